"""Kernel (Gaussian-mixture) bounds on mutual information for noisy representations.

Kolchinsky, A. & Tracey, B. D. (2017). Estimating mixture entropy with pairwise distances.
Entropy 19(7), 361.  As used by Saxe, A. M. et al. (2018). On the information bottleneck theory
of deep learning. ICLR 2018 (code: github.com/artemyk/ibsgd, ``kde.py``).

Both bounds (KL, upper; Bhattacharyya, lower) and the same-class sums for I(T;Y) come from one
compiled pass over the pairs (:func:`infoplane.estimators._kernels.kde_pair_sums`, threaded like
the k-NN kernels); :func:`ibsgd_bounds` is the plain numpy/scipy reference (Saxe et al.'s
formulas with :func:`scipy.special.logsumexp`) it is tested against.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

from infoplane.estimators import _kernels
from infoplane.estimators.base import Estimator, as_2d, is_discrete, register, standard_error
from infoplane.estimators.binning import symbols
from infoplane.estimators.knn import _run_kernel
from infoplane.units import nats_to_bits

__all__ = ["KDEBounds", "KDEEstimator", "ibsgd_bounds", "kde_bounds", "mixture_log_sums"]

#: Pairs whose Bhattacharyya kernel exp(-D / 8 s^2) is below exp(-(_CUT_NATS + ln n)) are
#: skipped: all of them together change a row's sum (which holds the self term 1) by less
#: than 1e-16 relative, below the rounding of the sum.
_CUT_NATS = 37.0
#: Row chunks of the pair pass (at most; fewer below 256 rows each): a fixed partition, so the
#: result is the same whatever the number of threads.
_CHUNKS = 8


def _triangle_split(n: int, threads: int) -> np.ndarray:
    """Row boundaries (threads + 1) giving each thread about the same number of pairs j > i."""
    pairs_before = np.concatenate([[0], np.cumsum(np.arange(n - 1, -1, -1))])  # (n + 1,)
    targets = pairs_before[-1] * np.arange(threads + 1) / threads
    b = np.searchsorted(pairs_before, targets).astype(np.int64)
    b[0], b[-1] = 0, n
    return b


def mixture_log_sums(h: np.ndarray, codes: np.ndarray | None, noise_variance: float) -> np.ndarray:
    """Per-sample log kernel sums of the two bounds, over all samples and over the sample's class.

    Parameters
    ----------
    h : float array (n, d)
    codes : int array (n,) of class symbols, or None (no class sums: every sample its own class)
    noise_variance : float, ``s^2``

    Returns
    -------
    float64 array (4, n), nats: ``ln sum_j exp(-D_ij / c)`` with ``D_ij = ||h_i - h_j||^2``
    over all j (rows 0, 1) and over the j of i's class (rows 2, 3; zeros when ``codes`` is
    None), with ``c = 2 s^2`` (rows 0, 2: KL, upper bound) and ``c = 8 s^2`` (rows 1, 3:
    Bhattacharyya, lower bound).

    Every sum holds the self term ``exp(0) = 1``, the largest term of its row, so it is
    formed without a max shift (the log-sum-exp's per-row max is exactly 0) and never
    underflows; the pair terms come from one pass (``exp(-D/2s^2) = exp(-D/8s^2)^4``) over
    the samples sorted by coordinate 0 (the kernel skips the columns farther than the cut in
    that coordinate) with the width padded to an even number of coordinates (a zero one).
    """
    h = np.asarray(h, dtype=np.float64)
    n, d = h.shape
    order = np.argsort(h[:, 0], kind="stable")  # the kernel visits only a window of coordinate 0
    ht = np.zeros((d + d % 2, n))  # an even number of coordinates: a zero one adds exactly 0
    ht[:d] = h[order].T
    use_codes = codes is not None
    cs = np.ascontiguousarray(codes[order], dtype=np.int64) if codes is not None else np.zeros(1, dtype=np.int64)
    inv8v = 1.0 / (8.0 * noise_variance)
    cut = (_CUT_NATS + math.log(n)) * 8.0 * noise_variance

    # Fixed row chunks (from n alone, never from the thread count), each with its own
    # accumulator, summed in chunk order: the sums, to the last bit, do not depend on how many
    # threads ran the chunks (a pair's column term lands in the chunk of its row).
    bounds = _triangle_split(n, max(1, min(_CHUNKS, n // 256)))

    def chunk(c: int) -> np.ndarray:
        acc = np.zeros((4, n))
        _kernels.kde_pair_sums(ht, cs, use_codes, inv8v, cut, int(bounds[c]), int(bounds[c + 1]), acc)
        return acc

    def chunks(first: int, last: int) -> list[np.ndarray]:
        return [chunk(c) for c in range(first, last)]

    parts = [a for block in _run_kernel(chunks, len(bounds) - 1, 1) for a in block]
    acc = parts[0]
    for part in parts[1:]:
        acc += part
    acc += 1.0  # the self terms
    out = np.empty((4, n))
    out[:, order] = np.log(acc)
    if not use_codes:
        out[2:] = 0.0
    return out


_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def _digest(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    return hashlib.blake2b(a.view(np.uint8).data, digest_size=16).digest() + repr((a.shape, a.dtype.str)).encode()


def _cached_log_sums(h: np.ndarray, codes: np.ndarray | None, noise_variance: float) -> np.ndarray:
    """:func:`mixture_log_sums`, remembering the last few results by the content of (h, codes,
    noise_variance): the ``kde`` estimator is called once per bound and per side (sample ids,
    labels) on the same representation, and one pass serves both bounds of a side. The arrays
    returned are read-only."""
    hd = _digest(h)
    key = (hd, None if codes is None else _digest(codes), float(noise_variance))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    lse = mixture_log_sums(h, codes, noise_variance)
    lse.flags.writeable = False
    # Only the same call is served from the cache: a pass with class codes rounds its sums over
    # all samples differently in the last bit from a pass without, so serving the sample-id call
    # from a labels pass would make a result depend on which call a process made first (seen as
    # Dask and local tables differing in the last digit).
    entries = [(key, lse)]
    with _CACHE_LOCK:
        for k, v in entries:
            _CACHE[k] = v
            _CACHE.move_to_end(k)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return lse


@dataclass(frozen=True)
class KDEBounds:
    """Saxe et al.'s KDE estimates of one representation T = h + N(0, s^2 I), in bits."""

    i_xt_upper: float
    i_xt_lower: float
    i_ty_upper: float
    i_ty_lower: float


def kde_bounds(h: np.ndarray, labels: np.ndarray, noise_variance: float = 1e-3) -> KDEBounds:
    """I(X;T) (unique inputs) and I(T;Y) (class ``labels``), upper and lower, from one pass.

    h : float array (n, d); labels : int array (n,). Equal to :func:`ibsgd_bounds` (to ~1e-12
    bits). Same values as ``kde`` with ``bound="upper"`` / ``"lower"`` on (sample ids, h) and
    (h, labels).
    """
    h = as_2d(h, "h")
    codes, m = symbols(np.asarray(labels))
    n = h.shape[0]
    lse = mixture_log_sums(h, codes, noise_variance)
    xt = math.log(n) - lse[:2].mean(axis=1)
    cond = (np.log(np.bincount(codes, minlength=m)[codes]) - lse[2:]).mean(axis=1)
    ty = xt - cond
    return KDEBounds(*(nats_to_bits(float(v)) for v in (xt[0], xt[1], ty[0], ty[1])))


def _entropy_kl(d2: np.ndarray, var: float, dims: int) -> float:
    """ibsgd ``entropy_estimator_kl`` (nats) from the squared distances d2 (N, N)."""
    lprobs = logsumexp(-d2 / (2 * var), axis=1) - math.log(d2.shape[0]) - dims / 2 * math.log(2 * math.pi * var)
    return dims / 2 - float(np.mean(lprobs))


def _entropy_bd(d2: np.ndarray, var: float, dims: int) -> float:
    """ibsgd ``entropy_estimator_bd`` (nats): the KL estimate at variance 4 var, plus d/2 ln 1/4."""
    return _entropy_kl(d2, 4 * var, dims) + math.log(0.25) * dims / 2


def ibsgd_bounds(h: np.ndarray, labels: np.ndarray, noise_variance: float = 1e-3) -> KDEBounds:
    """Reference: Saxe et al.'s formulas (ibsgd ``kde.py`` and ``ComputeMI`` notebooks) in numpy.

    ``H(T)`` by ``entropy_estimator_kl`` / ``_bd`` on the full (n, n) matrix of squared
    distances (scipy ``cdist``), ``H(T|X) = d/2 (ln 2 pi s^2 + 1)``, ``H(T|Y) = sum_c p_c H(T_c)``;
    I(X;T) = H(T) - H(T|X), I(T;Y) = H(T) - H(T|Y), in bits. O(n^2) memory.
    """
    h = np.asarray(h, dtype=np.float64)
    labels = np.asarray(labels)
    dims = h.shape[1]
    d2 = cdist(h, h, "sqeuclidean")
    h_given_x = dims / 2 * (math.log(2 * math.pi * noise_variance) + 1)
    out = []
    for entropy in (_entropy_kl, _entropy_bd):
        h_t = entropy(d2, noise_variance, dims)
        h_given_y = 0.0
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            h_given_y += len(idx) / len(labels) * entropy(d2[np.ix_(idx, idx)], noise_variance, dims)
        out.append((h_t - h_given_x, h_t - h_given_y))
    (xu, tu), (xl, tl) = out
    return KDEBounds(*(nats_to_bits(v) for v in (xu, xl, tu, tl)))


@register
class KDEEstimator(Estimator):
    """Pairwise-distance bounds on I(T;Z) for T = h + N(0, s^2 I) and a discrete Z.

    One side must be continuous (the representation ``h``, shape (n, d)) and the other discrete
    (integer: sample ids or labels, the grouping ``Z``). With ``T = h + N(0, s^2 I)`` the
    distribution of T is a mixture of Gaussians centred on the samples, and

        I(T;Z) = H(T) - sum_c p_c H(T | Z=c),

    each mixture entropy bounded as in Kolchinsky & Tracey (2017), exactly as Saxe et al.'s
    ``entropy_estimator_kl`` / ``entropy_estimator_bd``:

    * upper (KL) bound: ``H(T) <= d/2 + d/2 ln(2 pi s^2) - (1/N) sum_i ln[(1/N) sum_j
      exp(-||h_i - h_j||^2 / (2 s^2))]``;
    * lower (Bhattacharyya) bound: the KL formula with variance ``4 s^2`` plus
      ``d/2 ln(1/4)``, i.e. the same expression with ``exp(-||h_i - h_j||^2 / (8 s^2))``.

    The ``d/2 (1 + ln 2 pi s^2)`` terms cancel in the difference, so
    ``I = mean_i[ln N - LSE_j(-D_ij/c) ] - mean_i[ln N_c(i) - LSE_{j in c(i)}(-D_ij/c)]`` with
    ``c = 2 s^2`` (upper) or ``8 s^2`` (lower). With unique sample ids (every group a single
    sample) the conditional term is exactly ``H(T|X) = d/2 ln(2 pi e s^2)`` as in Saxe et al.,
    and I(X;T) = H(T) - H(T|X). Because ``exp(-D/8s^2) >= exp(-D/2s^2)`` the upper estimate
    of I(X;T) is never below the lower one. Both use the same bound for H(T) and H(T|Z), as
    Saxe et al. do, so for I(T;Y) they are estimates rather than strict bounds on I (upper >=
    lower there too on ordinary data, but not for every arrangement: a sample whose nearest
    neighbours are of another class can reverse it).

    Parameters
    ----------
    noise_variance : float, default 1e-3
        ``s^2``, the variance of the added Gaussian noise (in the units of ``h``).
    bound : "upper" or "lower", default "upper"
        Which bound this estimator returns; both come from the same compiled pass
        (:func:`mixture_log_sums`). ``infoplane.estimators.kde.kde_bounds(h, labels,
        noise_variance)`` returns I(X;T) and I(T;Y), upper and lower, of one representation
        from one pass.

    The standard error is that of the mean of the per-sample terms above (approximate: the terms
    are not independent).
    """

    name = "kde"
    accepts_sample_ids = True  # H(T) - H(T | X) with one sample per id: the noise entropy
    defaults = {"noise_variance": 1e-3, "bound": "upper"}

    def _validate_params(self) -> None:
        v = self.params["noise_variance"]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not (v > 0 and math.isfinite(v)):
            raise ValueError(f"kde: noise_variance must be a positive finite number; got noise_variance={v!r}")
        self.params["noise_variance"] = float(v)
        if self.params["bound"] not in ("upper", "lower"):
            raise ValueError(f"kde: bound must be 'upper' or 'lower'; got bound={self.params['bound']!r}")

    def _estimate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        dx, dy = is_discrete(x), is_discrete(y)
        if dx == dy:
            what = "both discrete (integer)" if dx else "both continuous (float)"
            raise ValueError(
                f"kde needs one continuous side (the representation) and one discrete side "
                f"(integer sample ids or labels); x and y are {what}. "
                + ("Use method='binning' for two discrete arrays." if dx else "Use method='ksg' or 'kl'.")
            )
        h, z = (y, x) if dx else (x, y)
        h = h.astype(np.float64)
        if np.all(np.ptp(h, axis=0) == 0):
            return 0.0, 0.0
        codes, m = symbols(z)
        n = h.shape[0]
        counts = np.bincount(codes, minlength=m)
        lse = _cached_log_sums(h, codes if m < n else None, self.params["noise_variance"])
        row = 0 if self.params["bound"] == "upper" else 1
        terms = (math.log(n) - lse[row]) - (np.log(counts[codes]) - lse[row + 2])
        return nats_to_bits(float(terms.mean())), nats_to_bits(standard_error(terms))
