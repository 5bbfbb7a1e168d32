"""Speed and accuracy of infoplane's estimators against peer implementations, in one process.

Run: ``.venv/bin/python benchmarks/estimators.py [--quick]``. Prints a markdown table and writes
it to ``benchmarks/out/estimators.md``. KSG times are the minimum of 5 interleaved wall-clock runs
in this process, ours and the peers alike (on a shared machine other load only adds time); KDE
times the minimum of 7 (ours, with all available threads and with ``OMP_NUM_THREADS=1``), 5 (the
``kde`` estimator) and 3 (the ibsgd peer; 2 with ``--quick``) interleaved runs per width, d = 1..12
(1, 6, 12 with ``--quick``);
the binning rows (both sides single-threaded) the median CPU seconds of 7 interleaved runs, which
a shared machine's descheduling does not inflate (``--binning-only`` runs just those); ratio =
infoplane time / peer time (below 1 means infoplane is faster).

Peers:
* ``ckdtree``: a plain scipy cKDTree KSG-1 (joint k-NN query with workers=-1, then
  query_ball_point counts in the marginals), fed the same standardised and jittered data as
  infoplane's ``ksg`` (same seed), so both estimates agree to ~1e-9.
* ``sklearn``: ``sklearn.feature_selection.mutual_info_regression`` (1-D only; it scales and
  jitters its own way, so its estimate may differ slightly).
* ``npeet-style``: the KSG-1 of NPEET-derived code, on scikit-learn's ``KDTree`` (Chebyshev
  metric; ``query_radius(count_only=True)`` for the marginal counts), same preprocessing as
  ``ckdtree`` (skipped at n = 10000, 25x25, where it takes about 15 s a call).
* ``IDNNs method``: binning as ravidziv/IDNNs computes it (``idnns/information/``
  ``information_process.py`` and ``mutual_information_calculation.py``): ``np.digitize`` of the
  flattened layer with the bin edges, the rows mapped to their bins' edge values, each row viewed
  as one ``np.void`` item and ``np.unique(..., return_inverse=True, return_counts=True)`` for
  p(t); H(T|Y) as IDNNs computes it, the same ``np.unique`` on the rows of each label weighted by
  p(y), with the labels' inverse computed once per study (as IDNNs' ``extract_probs`` does).
  I(X;T) = H(T) - H(T|X) with unique inputs is H(T): the peer skips IDNNs' loop over the 4096
  inputs (one ``np.unique`` per input), which favours the peer. Our side: one
  ``BinningEstimator.plane(ids, labels)`` for the 40 layers (X and Y coded once, each layer
  binned once for both quantities), the way the estimation stage calls it.
* ``ibsgd numpy``: Saxe et al.'s KDE formulas (artemyk/ibsgd ``kde.py``: ``entropy_estimator_kl`` /
  ``_bd`` with the notebooks' H(T|X) and label-weighted H(T|Y)) in numpy/scipy
  (:func:`infoplane.estimators.kde.ibsgd_bounds`: full ``cdist`` matrix and ``logsumexp``), against
  infoplane's one-pass :func:`~infoplane.estimators.kde.kde_bounds` (all four numbers) and the ``kde``
  estimator called as the analysis step calls it (upper and lower, sample ids and labels: 4 calls).
  Each row gives the worst width (the slowest of ours) and the peer's time at that width; lines
  starting with ``#`` give every width.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from infoplane.estimators import get_estimator, kde, mutual_information
from infoplane.estimators.knn import _n_threads, _standardise_jitter
from infoplane.units import nats_to_bits

K = 5


def gaussian_pairs(n: int, dx: int, dy: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """x (n, dx), y (n, dy) with corr(x_i, y_i) = rho for i < min(dx, dy); true MI in bits."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx))
    y = rng.standard_normal((n, dy))
    m = min(dx, dy)
    y[:, :m] = rho * x[:, :m] + np.sqrt(1 - rho**2) * y[:, :m]
    return x, y, -m / 2 * np.log2(1 - rho**2)


def ckdtree_ksg(x: np.ndarray, y: np.ndarray, k: int = K, seed: int = 0, jitter: float = 1e-10) -> float:
    """Plain cKDTree KSG-1 (the peer), same preprocessing as infoplane's ksg."""
    rng = np.random.default_rng(seed)
    x = _standardise_jitter(x, jitter, rng)
    y = _standardise_jitter(y, jitter, rng)
    xy = np.hstack([x, y])
    eps = cKDTree(xy).query(xy, k=k + 1, p=np.inf, workers=-1)[0][:, -1]
    r = np.nextafter(eps, 0)
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, workers=-1, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, workers=-1, return_length=True) - 1
    n = len(x)
    return nats_to_bits(float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))))


def npeet_style_ksg(x: np.ndarray, y: np.ndarray, k: int = K, seed: int = 0, jitter: float = 1e-10) -> float:
    """KSG-1 on scikit-learn KD-trees (as NPEET-derived code does), same preprocessing."""
    from sklearn.neighbors import KDTree

    rng = np.random.default_rng(seed)
    x = _standardise_jitter(x, jitter, rng)
    y = _standardise_jitter(y, jitter, rng)
    xy = np.hstack([x, y])
    eps = KDTree(xy, metric="chebyshev").query(xy, k=k + 1)[0][:, -1]
    r = np.nextafter(eps, 0)
    nx = KDTree(x, metric="chebyshev").query_radius(x, r, count_only=True) - 1
    ny = KDTree(y, metric="chebyshev").query_radius(y, r, count_only=True) - 1
    n = len(x)
    return nats_to_bits(float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))))


def sklearn_ksg(x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.feature_selection import mutual_info_regression

    return nats_to_bits(float(mutual_info_regression(x, y[:, 0], n_neighbors=K, random_state=0)[0]))


def kde_layers(widths: list[int], n: int = 4096, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """tanh layers (n, w) of the given widths and binary labels (Saxe et al.'s IB task has 2)."""
    rng = np.random.default_rng(seed)
    layers = [np.tanh(rng.standard_normal((n, w)) * 2) for w in widths]
    return layers, rng.integers(0, 2, n)


def kde_estimator_calls(t: np.ndarray, labels: np.ndarray, noise_variance: float) -> np.ndarray:
    """The ``kde`` estimator as the analysis step runs it: upper and lower on (ids, t), (t, y)."""
    kde._CACHE.clear()  # no reuse between timed repeats
    ids = np.arange(len(labels))
    ests = [get_estimator("kde", noise_variance=noise_variance, bound=b) for b in ("upper", "lower")]
    return np.array([e.estimate(z, t) for e in ests for z in (ids, labels)])


def _bounds_row(b: kde.KDEBounds) -> np.ndarray:
    """(4,) KDEBounds in the estimator calls' order (upper X, upper Y, lower X, lower Y)."""
    return np.array([b.i_xt_upper, b.i_ty_upper, b.i_xt_lower, b.i_ty_lower])


def one_thread(fn):
    """``fn`` run with ``OMP_NUM_THREADS=1`` (infoplane's kernels then use one thread)."""

    def run():
        old = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = "1"
        try:
            return fn()
        finally:
            if old is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = old

    return run


def min_timed(fns: dict, repeats: dict) -> dict:
    """Interleaved rounds, ``repeats[name]`` of them for each function; returns name -> (minimum
    wall-clock seconds, last value). The minimum: on a shared machine other load only adds time."""
    times: dict = {k: [] for k in fns}
    vals: dict = {}
    for r in range(max(repeats.values())):
        for name, fn in fns.items():
            if r < repeats[name]:
                t0 = time.perf_counter()
                vals[name] = fn()
                times[name].append(time.perf_counter() - t0)
    return {k: (min(v), vals[k]) for k, v in times.items()}


def kde_rows(quick: bool) -> list[str]:
    """KDE section: s per (layer, epoch) at n = 4096, widths 1..12, the worst width of each variant
    against the peer at that width, and the largest difference from the peer over all widths."""
    widths = [1, 6, 12] if quick else list(range(1, 13))
    layers, labels = kde_layers(widths)
    threads = _n_threads()
    variants = {
        f"kde_bounds (one pass), {threads} threads": "ours",
        "kde_bounds (one pass), 1 thread": "ours 1 thread",
        f"kde estimator, 4 calls, {threads} threads": "estimator",
    }
    rows = []
    for s2 in (1e-3, 0.1):
        per_width = []
        for w, t in zip(widths, layers, strict=True):
            res = min_timed(
                {
                    "ours": lambda t=t, s2=s2: _bounds_row(kde.kde_bounds(t, labels, s2)),
                    "ours 1 thread": one_thread(lambda t=t, s2=s2: _bounds_row(kde.kde_bounds(t, labels, s2))),
                    "estimator": lambda t=t, s2=s2: kde_estimator_calls(t, labels, s2),
                    "peer": lambda t=t, s2=s2: _bounds_row(kde.ibsgd_bounds(t, labels, s2)),
                },
                {"ours": 7, "ours 1 thread": 7, "estimator": 5, "peer": 2 if quick else 3},
            )
            vp = res["peer"][1]
            diff = max(float(np.abs(v - vp).max()) for v in (res[k][1] for k in variants.values()))
            per_width.append((w, res, diff))
            print(
                f"# KDE s2={s2:g} d={w}: " + ", ".join(f"{k} {v[0]:.4f} s" for k, v in res.items())
                + f", max abs diff {diff:.1e} bits",
                flush=True,
            )
        diff = max(d for _, _, d in per_width)
        peer_sum = sum(float(r["peer"][1].sum()) for _, r, _ in per_width)
        for what, key in variants.items():
            w, res, _ = max(per_width, key=lambda p, key=key: p[1][key][0])
            t, tp = res[key][0], res["peer"][0]
            rows.append(
                f"| KDE {what}, I(X;T)+I(T;Y) upper+lower, s2={s2:g}, s per layer-epoch (4096 x d), worst of "
                f"d in {{{', '.join(map(str, widths))}}}: d={w} | - | {t:.4f} | max abs diff {diff:.1e} bits | "
                f"ibsgd numpy | "
                f"{tp:.4f} (d={w}) | sum {peer_sum:.4f} | {t / tp:.4f} |"
            )
            print(rows[-1], flush=True)
    return rows


def tanh_layers(
    count: int, n_bits: int = 12, width: int = 10, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``count`` tanh layers (2**n_bits, width) of the 12-bit inputs (rows of +-1) through one
    random linear map, at growing gain (0.5 to 20: from a few distinct binned rows to
    saturation), the sample ids and labels (the sign of a random projection of the inputs)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(2**n_bits)
    inputs = 2.0 * ((ids[:, None] >> np.arange(n_bits)) & 1) - 1
    pre = inputs @ rng.standard_normal((n_bits, width)) / np.sqrt(n_bits)
    labels = (inputs @ rng.standard_normal(n_bits) > 0).astype(np.int64)
    return [np.tanh(g * pre) for g in np.geomspace(0.5, 20, count)], ids, labels


def _idnns_row_entropy(digitized: np.ndarray) -> float:
    """H (bits) of the rows of a digitised layer, each row one np.void item (IDNNs' way)."""
    rows = np.ascontiguousarray(digitized).view(np.dtype((np.void, digitized.dtype.itemsize * digitized.shape[1])))
    _, _, counts = np.unique(rows, return_index=False, return_inverse=True, return_counts=True)
    p = counts / float(sum(counts))
    return float(-np.sum(p * np.log2(p)))


def idnns_binning(layers: list[np.ndarray], labels: np.ndarray, bins: int = 30) -> list[tuple[float, float]]:
    """(I(X;T), I(T;Y)) in bits per layer, computed as IDNNs does (see the module docstring).

    The edges are ours (``linspace(-1, 1, bins + 1)``, interior ones to ``np.digitize``), so the
    partition, and the estimate, is the one of infoplane's ``binning``.
    """
    edges = np.linspace(-1, 1, bins + 1).astype(np.float32)
    classes, inverse_y, counts_y = np.unique(labels, return_inverse=True, return_counts=True)  # once per study
    p_y = counts_y / float(np.sum(counts_y))
    out = []
    for t in layers:
        digitized = edges[np.digitize(np.squeeze(t.reshape(1, -1)), edges[1:-1])].reshape(len(t), -1)
        h_t = _idnns_row_entropy(digitized)
        h_t_given_y = sum(p_y[i] * _idnns_row_entropy(digitized[inverse_y == i, :]) for i in range(len(classes)))
        out.append((h_t, h_t - h_t_given_y))  # I(X;T) = H(T) for unique inputs
    return out


def infoplane_binning(layers: list[np.ndarray], ids: np.ndarray, labels: np.ndarray) -> list[tuple[float, float]]:
    """(I(X;T), I(T;Y)) in bits per layer: one binning plane for all layers."""
    plane = get_estimator("binning", bins=30, range=(-1, 1)).plane(ids, labels)
    return [(xt, ty) for (xt, _), (ty, _) in map(plane, layers)]


def timed(fns: dict, repeats: int = 3, summary=statistics.median, clock=time.perf_counter) -> dict:
    """Interleaved repeats; returns name -> (summary (median) of the seconds on ``clock``
    (wall-clock), last value)."""
    times: dict = {k: [] for k in fns}
    vals: dict = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = clock()
            vals[name] = fn()
            times[name].append(clock() - t0)
    return {k: (summary(v), vals[k]) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 2000 only, skip 25x25 at 10k")
    ap.add_argument("--binning-only", action="store_true", help="only the binning rows")
    args = ap.parse_args(argv)
    sizes = [] if args.binning_only else [2000] if args.quick else [2000, 10000]
    rows = [
        "| case | true (bits) | infoplane s | infoplane est | peer | peer s | peer est | ratio (ours/peer) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    mutual_information(np.zeros(10) + np.arange(10.0), np.arange(10.0) ** 2, method="ksg", k=2)  # warm
    for n in sizes:
        for dx, dy in [(1, 1), (5, 5), (25, 25)]:
            x, y, true = gaussian_pairs(n, dx, dy, 0.5, seed=1)
            fns = {
                "infoplane ksg": lambda x=x, y=y: mutual_information(x, y, method="ksg", k=K),
                "ckdtree": lambda x=x, y=y: ckdtree_ksg(x, y),
            }
            if not (n == 10000 and dx == 25):
                fns["npeet-style"] = lambda x=x, y=y: npeet_style_ksg(x, y)
            if dx == 1 and dy == 1:
                fns["sklearn"] = lambda x=x, y=y: sklearn_ksg(x, y)
            res = min_timed(fns, dict.fromkeys(fns, 5))
            t_ours, v_ours = res.pop("infoplane ksg")
            for peer, (tp, vp) in res.items():
                rows.append(
                    f"| KSG n={n} {dx}x{dy} | {true:.3f} | {t_ours:.4f} | {v_ours:.6f} | {peer} | "
                    f"{tp:.4f} | {vp:.6f} | {t_ours / tp:.3f} |"
                )
            print(rows[-1], flush=True)
    if not args.binning_only:
        rows += kde_rows(args.quick)
    layers64, ids, labels = tanh_layers(10 if args.quick else 40)
    # float64 layers, and the same layers as float32 (the dtype the activation store holds).
    # Both sides run on one thread: timed in CPU seconds of this process (median of 7
    # interleaved runs), which a shared machine's descheduling does not inflate.
    for label, layers in [("float64", layers64), ("float32", [t.astype(np.float32) for t in layers64])]:
        res = timed({"ours": lambda layers=layers: infoplane_binning(layers, ids, labels),
                     "idnns": lambda layers=layers: idnns_binning(layers, labels)}, repeats=7, clock=time.process_time)
        (t_ours, v_ours), (tp, vp) = res["ours"], res["idnns"]
        diff = float(np.max(np.abs(np.asarray(v_ours) - np.asarray(vp))))
        sums = f"sum {sum(v[0] for v in v_ours):.4f} / {sum(v[1] for v in v_ours):.4f}"
        peer_sums = f"sum {sum(v[0] for v in vp):.4f} / {sum(v[1] for v in vp):.4f}"
        rows.append(
            f"| binning I(X;T) and I(T;Y), {len(layers)} {label} tanh layers of 4096 x 10 | - | {t_ours:.4f} | "
            f"{sums} | IDNNs method (np.void rows, np.unique) | {tp:.4f} | {peer_sums} (max diff {diff:.1e}) | "
            f"{t_ours / tp:.3f} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    out = Path(__file__).resolve().parent / "out" / "estimators.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "# Estimator benchmark\n\nWall-clock seconds (KSG, KDE: minimum of interleaved runs; binning: median CPU "
        "seconds, see benchmarks/estimators.py), "
        f"{'--quick, ' if args.quick else ''}correlated Gaussians rho=0.5 per coordinate pair, k={K}.\n\n"
        + table
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
