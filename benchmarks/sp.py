"""Speed and accuracy of the sample-propagation estimator (``sp``) at the 12-bit study's scale.

Run: ``python benchmarks/sp.py [--quick]``. Prints two markdown tables and writes them to
``benchmarks/out/sp.md``.

* Time per (layer, epoch): the two calls the estimation stage makes on one layer, I(X;T) with
  the 4096 sample ids and I(T;Y) with the 12-bit task's labels (Shwartz-Ziv & Tishby's inputs,
  :func:`infoplane.datasets.tishby.tishby_12bit`), default parameters (beta = 0.005,
  2 draws per component), the cache of sums cleared before each run. Layers of width 5 and 10:
  ``spread`` (tanh of a random projection of the inputs), ``saturated`` (its signs: many equal
  rows), ``clusters`` (8 tight clusters of 512) and ``crowded`` (the spread layer scaled by 1e-3:
  every pair within the cut, the costliest case). Wall seconds (median of 3) and the process's
  CPU seconds (median), which a shared machine's other jobs do not inflate; ``numpy`` is the
  plain blocked implementation (scipy ``cdist`` + ``logsumexp`` per 256 draws, the same draws)
  on the spread layer, and ``|diff|`` its largest difference from ``sp`` in bits.
* Error against the truth: a 1-D layer of 4096 samples (tanh of 2 N(0, 1), so
  the mixture has saturated tails and a dense middle) at beta = 0.005, whose I(X;T) and I(T;Y)
  come from h(T) and h(T | Y) by the trapezoid rule on a grid of spacing beta / 20 (each
  mixture density summed over its components in blocks).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

from infoplane.datasets.tishby import tishby_12bit
from infoplane.estimators import get_estimator, sp
from infoplane.estimators.binning import symbols
from infoplane.units import nats_to_bits

BETA = 0.005


def numpy_sp(s: np.ndarray, codes: np.ndarray | None, beta: float, z: np.ndarray) -> float:
    """The obvious implementation (bits): for blocks of 256 draws, Gaussian log-densities from
    scipy cdist and the log-sum-exps over all components and over the draw's group."""
    n, samples, d = z.shape
    t = (s[:, None, :] + beta * z).reshape(-1, d)
    codes = np.arange(n) if codes is None else codes
    own = np.repeat(codes, samples)
    counts = np.bincount(codes)
    total = 0.0
    for a in range(0, len(t), 256):
        logk = -cdist(t[a : a + 256], s, "sqeuclidean") / (2 * beta**2)
        same = own[a : a + 256, None] == codes[None, :]
        cond = logsumexp(np.where(same, logk, -np.inf), axis=1) - np.log(counts[own[a : a + 256]])
        total += float((cond - logsumexp(logk, axis=1) + math.log(n)).sum())
    return nats_to_bits(total / len(t))


def layers(d: int, x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    w = rng.standard_normal((x.shape[1], d))
    spread = np.tanh((x - 0.5) @ w * 0.5).astype(np.float32)
    clusters = np.repeat(rng.uniform(-1, 1, (8, d)), len(x) // 8, axis=0) + BETA * rng.standard_normal((len(x), d))
    return {"spread": spread, "saturated": np.sign(spread), "clusters": clusters.astype(np.float32),
            "crowded": spread * np.float32(1e-3)}


def time_both(t: np.ndarray, ids: np.ndarray, y: np.ndarray, reps: int) -> tuple[float, float, tuple, tuple]:
    est = get_estimator("sp", beta=BETA)
    walls, cpus = [], []
    for _ in range(reps):
        sp._CACHE.clear()
        w0, c0 = time.perf_counter(), time.process_time()
        xt = est.estimate_with_error(ids, t)
        ty = est.estimate_with_error(t, y)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), xt, ty


def speed_table(reps: int) -> list[str]:
    x, y = tishby_12bit()
    ids = np.arange(len(x))
    rng = np.random.default_rng(0)
    get_estimator("sp").estimate(ids[:50], x[:50, :3])  # compile
    rows = ["| width | layer | wall s | CPU s | I(X;T) bits (s.e.) | I(T;Y) bits (s.e.) | numpy wall s | abs diff |",
            "|---|---|---|---|---|---|---|---|"]
    for d in (5, 10):
        for name, t in layers(d, x, rng).items():
            wall, cpu, xt, ty = time_both(t, ids, y, reps)
            peer, diff = "", ""
            if name == "spread":
                s64 = t.astype(np.float64)
                z = sp.noise_draws(len(t), d, 2, 0)
                w0 = time.perf_counter()
                ref = (numpy_sp(s64, None, BETA, z), numpy_sp(s64, symbols(y)[0], BETA, z))
                peer = f"{time.perf_counter() - w0:.2f}"
                diff = f"{max(abs(ref[0] - xt[0]), abs(ref[1] - ty[0])):.1e}"
            rows.append(f"| {d} | {name} | {wall:.3f} | {cpu:.3f} | {xt[0]:.4f} ({xt[1]:.4f}) | "
                        f"{ty[0]:.4f} ({ty[1]:.4f}) | {peer} | {diff} |")
    return rows


def grid_entropy(centres: np.ndarray, beta: float) -> float:
    """h (nats) of the 1-D equal-weight mixture by the trapezoid rule, spacing beta / 20."""
    h = beta / 20
    grid = np.arange(centres.min() - 10 * beta, centres.max() + 10 * beta + h, h)
    g = np.zeros_like(grid)
    for a in range(0, len(centres), 256):
        g += np.exp(-((grid[:, None] - centres[None, a : a + 256]) ** 2) / (2 * beta**2)).sum(axis=1)
    g /= len(centres) * math.sqrt(2 * math.pi) * beta
    pos = g > 0
    return float(-(g[pos] * np.log(g[pos])).sum() * h)


def accuracy_table(n: int) -> list[str]:
    rng = np.random.default_rng(1)
    s = np.tanh(2 * rng.standard_normal(n))
    y = (s + 0.3 * rng.standard_normal(n) > 0).astype(np.int64)
    h_t = grid_entropy(s, BETA)
    truth_xt = nats_to_bits(h_t - 0.5 * math.log(2 * math.pi * math.e * BETA**2))
    truth_ty = nats_to_bits(h_t - sum(np.mean(y == c) * grid_entropy(s[y == c], BETA) for c in (0, 1)))
    est = get_estimator("sp", beta=BETA)
    rows = ["| quantity | truth (grid) bits | sp bits | s.e. | error / s.e. |", "|---|---|---|---|---|"]
    for what, truth, (v, se) in (("I(X;T)", truth_xt, est.estimate_with_error(np.arange(n), s[:, None])),
                                 ("I(T;Y)", truth_ty, est.estimate_with_error(s[:, None], y))):
        rows.append(f"| {what} | {truth:.4f} | {v:.4f} | {se:.4f} | {(v - truth) / se:+.2f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one run per case")
    args = p.parse_args(argv)
    lines = ["## sp: time per (layer, epoch), n = 4096, I(X;T) + I(T;Y)", "", *speed_table(1 if args.quick else 3),
             "", "## sp: error against the grid truth, 1-D, n = 4096, beta = 0.005", "", *accuracy_table(4096)]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "sp.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
