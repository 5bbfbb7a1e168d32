"""Sample-propagation (SP) estimate of I(A;T) for a noisy layer T = S + Z, Z ~ N(0, beta^2 I_d).

Goldfeld, Z., van den Berg, E., Greenewald, K., Melnyk, I., Nguyen, N., Kingsbury, B. &
Polyanskiy, Y. (2019). Estimating information flow in deep neural networks. ICML 2019, PMLR 97.
(Section numbers and the default beta below are cited from memory of the paper; they were not
re-checked against its PDF here.)

A is discrete (sample ids, as in I(X;T) with ``analysis.x: ids``, or class labels, as in
I(T;Y)) and S (n, d) holds the layer's recorded noiseless outputs, one row per input sample,
each sample of probability 1/n. T's distribution is then the equal-weight Gaussian mixture
``g(t) = (1/n) sum_j phi_beta(t - s_j)`` and T | A=a the mixture of the rows with that a, so

    I(A;T) = h(T) - sum_a p(a) h(T | A=a),

with the differential entropy of each Gaussian mixture computed by Monte Carlo integration: draw
``t = s_i + beta z`` from every component and average ``-ln g(t)`` (Goldfeld et al. 2019,
Sec. 3, the SP estimator ``h(P_hat_S * phi_beta)`` and its Monte Carlo evaluation; the
estimator and the integration's error are analysed in Goldfeld, Greenewald, Niles-Weed &
Polyanskiy, "Convergence of smoothed empirical measures with applications to entropy
estimation", IEEE Trans. Inf. Theory 66(7), 2020, arXiv:1810.11589).

This is the SP estimator for a layer whose only noise is its own: the recorded activations are
the noiseless outputs of a deterministic network, so noise of earlier layers is not propagated
(Goldfeld et al.'s full estimator propagates samples through the noisy network, which makes T |
X=x itself a mixture). Here T | X=x is the single Gaussian N(s_x, beta^2 I), whose entropy
``d/2 ln(2 pi e beta^2)`` is exact.

How it is computed (:func:`sp_terms`). Every draw ``t_ir = s_i + beta z_ir`` (component i,
r < ``samples``) is used for both terms (common random numbers), so the Gaussian normalisations
cancel and each draw contributes the log density ratio

    f_ir = ln p(t_ir | a_i) - ln p(t_ir) = ln(n / n_a) + LSE_{j: a_j = a_i}(-u_j) - LSE_j(-u_j),
    u_j = (||t_ir - s_j||^2 - ||t_ir - s_i||^2) / (2 beta^2),

whose mean over all draws is the estimate (``h(T)`` by Monte Carlo, ``h(T|A)`` with the same
draws; for unique sample ids ``LSE_{a_j = a_i}`` is exactly 0 and the estimate is ``ln n -
mean LSE_j(-u_j)``, i.e. h(T) with the noise's own ``||z||^2/2`` taken at its expectation ``d/2``
minus the exact ``h(T|X)``). Each draw's own component has ``u_i = 0``, so every sum is at
least 1 and never overflows; terms below ``exp(-(37 + ln n))`` of the own term may be left out
(less than 1e-16 of the sum), and the exponentials come from a vectorised polynomial (relative
error below 1e-13; :func:`_exp_sum`). Far-apart components give ``ln n``, coincident ones 0
(to about 1e-13).
The per-draw sums come from one compiled pass over the (draw, component) pairs
(:func:`_log_sum_rows`, row blocks on the k-NN thread pool), the components sorted along their
direction of largest spread so that a tile of columns with no component near the draw is skipped
without exponentials (far clusters, saturated units); the sums over all components are
remembered by content, so the calls for I(X;T) and I(T;Y) on one layer share them and the second
adds only the same-class pairs. :func:`sp_reference` is the plain double loop (scipy
``multivariate_normal.logpdf`` and ``logsumexp``) the fast path is tested against.

The draws are stratified (``samples`` per component), so the standard error is that of a
stratified mean, ``sqrt(sum_i var_i / samples) / n`` with ``var_i`` the sample variance of
component i's terms (``samples >= 2``); with ``samples = 1`` the plain ``std / sqrt(n)`` is
reported, conservative (it also counts the spread between components).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np
from numba import njit
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from infoplane.estimators._kernels import fixed_order_sum
from infoplane.estimators.base import Estimator, EstimatorRefused, is_discrete, register
from infoplane.estimators.binning import symbols
from infoplane.estimators.kde import _digest
from infoplane.estimators.knn import _run_kernel
from infoplane.units import nats_to_bits

__all__ = ["SPEstimator", "noise_draws", "sp_reference", "sp_summary", "sp_terms"]

#: Terms below ``exp(-(_CUT_NATS + ln n))`` of a draw's own term are left out: all of them
#: together change its sum (which holds the own term) by less than 1e-16 relative.
_CUT_NATS = 37.0
#: :func:`_exp_sum` evaluates exp(x) on [_EXP_FLOOR, 0] as exp(x / 256)^256 (8 squarings).
_EXP_FLOOR = -256.0
_E_HALF = math.exp(-0.5)
#: Columns per tile of :func:`_log_sum_rows` (the tile's distances stay in L1).
_TILE = 512
#: Draws per thread below which a pass runs on the calling thread only.
_ROWS_PER_THREAD = 256


@njit(nogil=True, cache=True, fastmath={"contract"})
def _exp_sum(b: np.ndarray, m: int, scale: float) -> float:
    """``sum_{q < m} exp(-b[q] * scale)`` over the terms whose exponent is at least
    ``_EXP_FLOOR`` (the others count 0), for ``b >= 0``: a branch-free exp that the compiler
    vectorises (libm's exp, one call per term, costs about five times as much here).

    ``exp(x) = exp(x / 256)^256``: ``exp(x / 256)``, ``x / 256`` in [-1, 0], is the Taylor
    polynomial of degree 14 of ``exp`` about -1/2 (truncation below 3e-17 relative), then squared
    8 times; relative error below 1e-13 on [-256, 0] (tested against numpy's exp). The
    polynomial may use fused multiply-adds; the terms are summed by
    :func:`~infoplane.estimators._kernels.fixed_order_sum`, in an order fixed by the source (a
    sum the compiler may reorder is vectorised differently in each compiled copy of the
    function, so its bits would depend on the process's history).
    """
    terms = np.empty(m)
    for q in range(m):
        x = -b[q] * scale
        y = x * (1.0 / 256.0) + 0.5
        p = 1.0 / 87178291200.0
        p = p * y + 1.0 / 6227020800.0
        p = p * y + 1.0 / 479001600.0
        p = p * y + 1.0 / 39916800.0
        p = p * y + 1.0 / 3628800.0
        p = p * y + 1.0 / 362880.0
        p = p * y + 1.0 / 40320.0
        p = p * y + 1.0 / 5040.0
        p = p * y + 1.0 / 720.0
        p = p * y + 1.0 / 120.0
        p = p * y + 1.0 / 24.0
        p = p * y + 1.0 / 6.0
        p = p * y + 0.5
        p = p * y + 1.0
        p = p * y + 1.0
        p *= _E_HALF
        p *= p
        p *= p
        p *= p
        p *= p
        p *= p
        p *= p
        p *= p
        p *= p
        terms[q] = p if x >= _EXP_FLOOR else 0.0
    return fixed_order_sum(terms)


@njit(nogil=True, cache=True)
def _any_within(b: np.ndarray, m: int, bound: float) -> bool:
    """Whether some ``b[q] <= bound``, q < m (a count, which the compiler vectorises)."""
    k = 0
    for q in range(m):
        k += b[q] <= bound
    return k > 0


@njit(nogil=True, cache=True)
def _log_sum_rows(
    st: np.ndarray,
    t: np.ndarray,
    own: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    inv2b2: float,
    cut: float,
    start: int,
    stop: int,
    out: np.ndarray,
) -> None:
    """``out[r] = ln sum_{j = lo[r]}^{hi[r] - 1} exp((D(r, own[r]) - D(r, j)) * inv2b2)`` for r in
    start..stop, nats, with ``D(r, j)`` the squared Euclidean distance of draw ``t[r]`` (N, d)
    and centre ``st[:, j]`` (d, n), coordinates summed in order (the own distance the same way).

    The sum is formed as ``exp(e_r) sum_j exp(-D(r, j) * inv2b2)`` with ``e_r = D(r, own) *
    inv2b2``, the terms by :func:`_exp_sum`. Terms below ``exp(-cut)`` of the own term may be
    left out: a tile of columns none of which comes that close is skipped. A draw whose ``e_r``
    exceeds ``-_EXP_FLOOR - cut`` (only in layers of a few hundred units) takes an online
    log-sum-exp with libm's exp instead (running maximum, no overflow).
    """
    d = st.shape[0]
    b = np.empty(_TILE)
    for r in range(start, stop):
        i = own[r]
        zz = 0.0
        for c in range(d):
            u = st[c, i] - t[r, c]
            zz += u * u
        e_own = zz * inv2b2
        fast = e_own <= -_EXP_FLOOR - cut
        d_max = (e_own + cut) / inv2b2  # farther columns are below exp(-cut) of the own term
        mx = -np.inf
        s = 0.0
        for jb in range(lo[r], hi[r], _TILE):
            m = min(_TILE, hi[r] - jb)
            b[:m] = 0.0
            for c in range(d):
                v = t[r, c]
                row = st[c, jb : jb + m]
                for q in range(m):
                    u = row[q] - v
                    b[q] += u * u
            if not _any_within(b, m, d_max):
                continue
            if fast:
                s += _exp_sum(b, m, inv2b2)
                continue
            for q in range(m):
                e = (zz - b[q]) * inv2b2
                if e > mx:
                    s = s * np.exp(mx - e) + 1.0
                    mx = e
                elif e > mx - cut:
                    s += np.exp(e - mx)
        out[r] = e_own + np.log(s) if fast else mx + np.log(s)


def noise_draws(n: int, d: int, samples: int, seed: int) -> np.ndarray:
    """Standard normal draws ``z`` (n, samples, d) from ``numpy.random.default_rng(seed)``: the
    Monte Carlo points of component i are ``s_i + beta z[i]``."""
    return np.random.default_rng(seed).standard_normal((n, samples, d))


def _log_sums(centres: np.ndarray, t: np.ndarray, own: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              beta: float) -> np.ndarray:
    """:func:`_log_sum_rows` over all draws (N,), row blocks on the k-NN thread pool."""
    st = np.ascontiguousarray(centres.T)
    out = np.empty(len(t))
    cut = _CUT_NATS + math.log(centres.shape[0])
    inv2b2 = 1.0 / (2.0 * beta * beta)
    _run_kernel(lambda s, e: _log_sum_rows(st, t, own, lo, hi, inv2b2, cut, s, e, out), len(t), _ROWS_PER_THREAD)
    return out


def _sort_key(s: np.ndarray) -> np.ndarray:
    """Each row's coordinate along the direction of largest spread (n,): centres sorted by it
    put near neighbours in the same column tiles of :func:`_log_sum_rows`, so the tiles of far
    clusters are skipped."""
    centred = s - s.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    return centred @ direction


def _all_sums(s: np.ndarray, t: np.ndarray, samples: int, beta: float) -> np.ndarray:
    """``LSE_j(-u_j)`` over all n components for every draw (N,), nats."""
    n = s.shape[0]
    order = np.argsort(_sort_key(s), kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(n)
    own = np.repeat(position, samples).astype(np.int64)
    lo = np.zeros(len(t), np.int64)
    hi = np.full(len(t), n, np.int64)
    return _log_sums(s[order], t, own, lo, hi, beta)


def _group_sums(s: np.ndarray, t: np.ndarray, samples: int, beta: float, codes: np.ndarray) -> np.ndarray:
    """``LSE_{j: a_j = a_i}(-u_j)`` for every draw (N,), nats: components sorted by group (and
    by :func:`_sort_key` inside it), each draw's pass limited to its own group's range."""
    order = np.lexsort((_sort_key(s), codes))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    counts = np.bincount(codes)
    ends = np.cumsum(counts)
    starts = ends - counts
    own = np.repeat(position, samples).astype(np.int64)
    lo = np.repeat(starts[codes], samples).astype(np.int64)
    hi = np.repeat(ends[codes], samples).astype(np.int64)
    return _log_sums(s[order], t, own, lo, hi, beta)


def _draw_points(s: np.ndarray, beta: float, z: np.ndarray) -> np.ndarray:
    """Draw points (n * samples, d): ``s_i + beta z_ir``, component-major."""
    return np.ascontiguousarray((s[:, None, :] + beta * z).reshape(-1, s.shape[1]))


def sp_terms(s: np.ndarray, codes: np.ndarray | None, beta: float, z: np.ndarray,
             all_sums: np.ndarray | None = None) -> np.ndarray:
    """Per-draw terms ``f_ir = ln p(t_ir | a_i) - ln p(t_ir)`` of the SP estimate, nats.

    Parameters
    ----------
    s : float64 array (n, d)
        The mixture's centres (the noiseless layer, one row per sample).
    codes : int64 array (n,) of group codes 0..m-1, or None (every row its own group: sample ids)
    beta : float
        The noise standard deviation (units of ``s``).
    z : float array (n, samples, d)
        Standard normal draws (:func:`noise_draws`).
    all_sums : float array (n * samples,), optional
        ``LSE_j(-u_j)`` over all components, when already computed for these draws.

    Returns
    -------
    float64 array (n, samples), nats; their mean estimates I(A;T).
    """
    n, samples = z.shape[0], z.shape[1]
    t = _draw_points(s, beta, z)
    if all_sums is None:
        all_sums = _all_sums(s, t, samples, beta)
    terms = math.log(n) - np.asarray(all_sums, dtype=np.float64)
    if codes is not None:
        counts = np.bincount(codes)
        terms = terms - np.repeat(np.log(counts[codes]), samples) + _group_sums(s, t, samples, beta, codes)
    return terms.reshape(n, samples)


def sp_reference(s: np.ndarray, codes: np.ndarray | None, beta: float, z: np.ndarray) -> np.ndarray:
    """Reference for :func:`sp_terms`: a plain double loop over draws and components.

    ``ln p(t) = logsumexp_j ln N(t; s_j, beta^2 I) - ln n`` and ``ln p(t | a) = logsumexp_{j: a_j
    = a} ln N(t; s_j, beta^2 I) - ln n_a`` with :func:`scipy.stats.multivariate_normal.logpdf`
    for every (draw, component) pair. Slow (seconds at n = 100): for tests.
    """
    n, samples, d = z.shape
    codes = np.arange(n) if codes is None else np.asarray(codes)
    out = np.empty((n, samples))
    for i in range(n):
        for r in range(samples):
            t = s[i] + beta * z[i, r]
            logpdf = np.array([multivariate_normal.logpdf(t, mean=s[j], cov=beta**2 * np.eye(d)) for j in range(n)])
            same = codes == codes[i]
            out[i, r] = (logsumexp(logpdf[same]) - math.log(same.sum())) - (logsumexp(logpdf) - math.log(n))
    return out


def sp_summary(terms: np.ndarray) -> tuple[float, float]:
    """``(estimate, standard error)`` in bits from per-draw terms (n, samples) in nats.

    The draws are stratified by component, so the error is that of a stratified mean: ``sqrt(
    sum_i var_i / samples) / n`` with ``var_i`` the sample variance of row i (``samples >= 2``).
    With one draw per component the plain ``std / sqrt(n)`` is returned: conservative, its
    square is on average at least the true variance (it also counts the spread between
    components).
    """
    n, samples = terms.shape
    value = float(terms.mean())
    if samples >= 2:
        se = math.sqrt(float(terms.var(axis=1, ddof=1).sum()) / samples) / n
    else:
        se = float(terms[:, 0].std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    return nats_to_bits(value), nats_to_bits(se)


_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def _cached_all_sums(s: np.ndarray, beta: float, z: np.ndarray, seed: int) -> np.ndarray:
    """:func:`_all_sums` of these draws, remembered for the last few (content of s, beta, draws'
    shape, seed): the I(X;T) and I(T;Y) calls on one layer share them. Read-only."""
    key = (_digest(s), float(beta), z.shape, int(seed))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    sums = _all_sums(s, _draw_points(s, beta, z), z.shape[1], beta)
    sums.flags.writeable = False
    with _CACHE_LOCK:
        _CACHE[key] = sums
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return sums


def _check_int(est: Estimator, key: str, minimum: int) -> None:
    v = est.params[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"sp: {key} must be an integer >= {minimum}; got {key}={v!r}")
    est.params[key] = int(v)


@register
class SPEstimator(Estimator):
    """Sample-propagation estimate of I(A;T), T = S + N(0, beta^2 I), A discrete (see the module).

    One side must be continuous (the noiseless layer S, shape (n, d)) and the other discrete
    (integer: sample ids or labels); the order of the arguments does not matter. Two continuous
    or two discrete sides are refused (:class:`~infoplane.estimators.base.EstimatorRefused`).

    Parameters
    ----------
    beta : float, default 0.005
        Standard deviation of the layer's Gaussian noise, in the units of S. The default is the
        noise Goldfeld et al. (2019) use for the tanh network on the 12-bit task of Shwartz-Ziv &
        Tishby (their Sec. 5, Fig. 4; see the note at the top of the module). The estimate depends
        strongly on it: it is I(A;T) of this noisy layer, not of the deterministic one.
    samples : int >= 1, default 2
        Monte Carlo draws per mixture component (n * samples draws in all). Two or more give an
        unbiased estimate of the variance behind the standard error; one gives a conservative
        one (it also counts the spread between components).
    seed : int >= 0, default 0
        Seeds the draws (:func:`noise_draws`; no global random state). The same seed gives the
        same draws for every layer and epoch of the same shape (common random numbers).

    Returns bits and the Monte Carlo standard error (bits) of the estimate for this sample of
    n rows; it does not include the error of the empirical distribution of S as an estimate of
    the population's (Goldfeld et al.'s Theorem on the SP estimator's risk).
    """

    name = "sp"
    accepts_sample_ids = True  # T | X=x is one Gaussian: exact entropy
    defaults = {"beta": 0.005, "samples": 2, "seed": 0}

    def _validate_params(self) -> None:
        v = self.params["beta"]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not (
            v > 0 and math.isfinite(v)
        ):
            raise ValueError(f"sp: beta must be a positive finite number (the noise std); got beta={v!r}")
        self.params["beta"] = float(v)
        _check_int(self, "samples", 1)
        _check_int(self, "seed", 0)

    def _estimate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        dx, dy = is_discrete(x), is_discrete(y)
        if dx == dy:
            what = "both discrete (integer)" if dx else "both continuous (float)"
            raise EstimatorRefused(
                f"sp needs one continuous side (the noiseless layer S) and one discrete side "
                f"(integer sample ids or labels); x and y are {what}. "
                + ("Use method='binning' for two discrete arrays." if dx else "Use method='ksg' or 'wkl'.")
            )
        s, a = (y, x) if dx else (x, y)
        s = np.ascontiguousarray(s, dtype=np.float64)
        if np.all(np.ptp(s, axis=0) == 0):
            return 0.0, 0.0  # one point: every draw's sums are exactly ln n and ln n_a
        codes, m = symbols(a)
        n, d = s.shape
        beta, samples, seed = self.params["beta"], self.params["samples"], self.params["seed"]
        z = noise_draws(n, d, samples, seed)
        all_sums = _cached_all_sums(s, beta, z, seed)
        terms = sp_terms(s, codes if m < n else None, beta, z, all_sums)
        return sp_summary(terms)
