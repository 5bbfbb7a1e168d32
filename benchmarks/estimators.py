"""Speed and accuracy of infoplane's estimators against peer implementations, in one process.

Run: ``.venv/bin/python benchmarks/estimators.py [--quick]``. Prints a markdown table and writes
it to ``benchmarks/out/estimators.md``. Times are the median of 3 wall-clock runs (interleaved);
ratio = infoplane time / peer time (below 1 means infoplane is faster).

Peers:
* ``ckdtree``: a plain scipy cKDTree KSG-1 (joint k-NN query with workers=-1, then
  query_ball_point counts in the marginals), fed the same standardised and jittered data as
  infoplane's ``ksg`` (same seed), so both estimates agree to ~1e-9.
* ``sklearn``: ``sklearn.feature_selection.mutual_info_regression`` (1-D only; it scales and
  jitters its own way, so its estimate may differ slightly).
* ``npeet-style``: the KSG-1 of NPEET-derived code, on scikit-learn's ``KDTree`` (Chebyshev
  metric; ``query_radius(count_only=True)`` for the marginal counts), same preprocessing as
  ``ckdtree`` (skipped at n = 10000, 25x25, where it takes about 15 s a call).
* ``ibsgd numpy``: Saxe et al.'s KDE formulas (artemyk/ibsgd ``kde.py``: ``entropy_estimator_kl`` /
  ``_bd`` with the notebooks' H(T|X) and label-weighted H(T|Y)) in numpy/scipy
  (:func:`infoplane.estimators.kde.ibsgd_bounds`: full ``cdist`` matrix and ``logsumexp``), against
  infoplane's one-pass :func:`~infoplane.estimators.kde.kde_bounds` (all four numbers) and the ``kde``
  estimator called as the analysis step calls it (upper and lower, sample ids and labels: 4 calls).
* ``idnns``: the IDNNs-style binning loop (for each layer and epoch: ``np.unique`` over the rows of
  the digitised activations, ``axis=0, return_counts=True``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from infoplane.estimators import get_estimator, kde, mutual_information
from infoplane.estimators.knn import _standardise_jitter
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


def kde_estimator_calls(layers: list[np.ndarray], labels: np.ndarray, noise_variance: float) -> np.ndarray:
    """The ``kde`` estimator as the analysis step runs it: upper and lower on (ids, t), (t, y)."""
    kde._CACHE.clear()  # no reuse between timed repeats
    ids = np.arange(len(labels))
    ests = [get_estimator("kde", noise_variance=noise_variance, bound=b) for b in ("upper", "lower")]
    return np.array([[e.estimate(z, t) for e in ests for z in (ids, labels)] for t in layers])


def _bounds_table(bounds: list) -> np.ndarray:
    """(layers, 4) array of KDEBounds in the estimator calls' order (upper X, upper Y, lower X, lower Y)."""
    return np.array([[b.i_xt_upper, b.i_ty_upper, b.i_xt_lower, b.i_ty_lower] for b in bounds])


def kde_rows(quick: bool) -> list[str]:
    """KDE section: s per layer-epoch (n = 4096) and the largest difference from the peer."""
    widths = [10, 3] if quick else [10, 7, 5, 4, 3]
    layers, labels = kde_layers(widths)
    rows = []
    for s2 in (1e-3, 0.1):
        res = timed(
            {
                "ours": lambda: _bounds_table([kde.kde_bounds(t, labels, s2) for t in layers]),
                "estimator": lambda: kde_estimator_calls(layers, labels, s2),
                "peer": lambda: _bounds_table([kde.ibsgd_bounds(t, labels, s2) for t in layers]),
            }
        )
        (tp, vp), m = res.pop("peer"), len(layers)
        for name, (t, v) in res.items():
            what = "kde_bounds (one pass)" if name == "ours" else "kde estimator, 4 calls"
            rows.append(
                f"| KDE {what}, I(X;T)+I(T;Y) upper+lower, s2={s2:g}, s per layer-epoch (4096 x {widths}) | - | "
                f"{t / m:.4f} | max abs diff {np.abs(v - vp).max():.1e} bits | ibsgd numpy | {tp / m:.4f} | "
                f"sum {vp.sum():.4f} | {t / tp:.3f} |"
            )
            print(rows[-1], flush=True)
    return rows


def idnns_binning(layers: list[np.ndarray], bins: int = 30) -> list[float]:
    """IDNNs-style H(T) = I(X;T) per layer: np.unique(axis=0) over digitised rows."""
    edges = np.linspace(-1, 1, bins + 1)[1:-1]
    out = []
    for t in layers:
        d = np.digitize(t, edges)
        _, counts = np.unique(d, axis=0, return_counts=True)
        p = counts / counts.sum()
        out.append(float(-(p * np.log2(p)).sum()))
    return out


def infoplane_binning(layers: list[np.ndarray], ids: np.ndarray) -> list[float]:
    return [mutual_information(ids, t, method="binning", bins=30, range=(-1, 1)) for t in layers]


def timed(fns: dict, repeats: int = 3) -> dict:
    """Interleaved repeats; returns name -> (median seconds, last value)."""
    times: dict = {k: [] for k in fns}
    vals: dict = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            vals[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), vals[k]) for k, v in times.items()}


def fmt(v) -> str:
    if isinstance(v, list):
        return f"sum {sum(v):.4f}"
    return f"{v:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 2000 only, skip 25x25 at 10k")
    args = ap.parse_args(argv)
    sizes = [2000] if args.quick else [2000, 10000]
    rows = [
        "| case | true (bits) | infoplane s | infoplane est | peer | peer s | peer est | ratio (ours/peer) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    mutual_information(np.zeros(10) + np.arange(10.0), np.arange(10.0) ** 2, method="ksg", k=2)  # warm
    for n in sizes:
        for dx, dy in [(1, 1), (5, 5), (25, 25)]:
            x, y, true = gaussian_pairs(n, dx, dy, 0.5, seed=1)
            fns = {
                "infoplane ksg": lambda: mutual_information(x, y, method="ksg", k=K),
                "ckdtree": lambda: ckdtree_ksg(x, y),
            }
            if not (n == 10000 and dx == 25):
                fns["npeet-style"] = lambda: npeet_style_ksg(x, y)
            if dx == 1 and dy == 1:
                fns["sklearn"] = lambda: sklearn_ksg(x, y)
            res = timed(fns)
            t_ours, v_ours = res.pop("infoplane ksg")
            for peer, (tp, vp) in res.items():
                rows.append(
                    f"| KSG n={n} {dx}x{dy} | {true:.3f} | {t_ours:.4f} | {v_ours:.6f} | {peer} | "
                    f"{tp:.4f} | {vp:.6f} | {t_ours / tp:.3f} |"
                )
            print(rows[-1], flush=True)
    rows += kde_rows(args.quick)
    rng = np.random.default_rng(0)
    widths = [12, 10, 7, 5, 4, 3, 2]
    epochs = 2 if args.quick else 10
    layers64 = [np.tanh(rng.standard_normal((4096, w)) * s) for s in np.linspace(0.5, 3, epochs) for w in widths]
    ids = np.arange(4096)
    # float64 layers, and the same layers as float32 (the dtype the activation store holds)
    for label, layers in [("float64", layers64), ("float32", [t.astype(np.float32) for t in layers64])]:
        res = timed(
            {"ours": lambda: infoplane_binning(layers, ids), "idnns": lambda: idnns_binning(layers)}, repeats=5
        )
        (t_ours, v_ours), (tp, vp) = res["ours"], res["idnns"]
        agree = np.allclose(v_ours, vp, atol=1e-9)
        rows.append(
            f"| binning I(X;T), {len(layers)} {label} layer-epochs of 4096 x {widths} | - | {t_ours:.4f} | "
            f"{fmt(v_ours)} | idnns np.unique(axis=0) | {tp:.4f} | {fmt(vp)} (agree: {agree}) | {t_ours / tp:.3f} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    out = Path(__file__).resolve().parent / "out" / "estimators.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "# Estimator benchmark\n\nMedian of 3 interleaved runs, wall-clock seconds, "
        f"{'--quick, ' if args.quick else ''}correlated Gaussians rho=0.5 per coordinate pair, k={K}.\n\n"
        + table
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
