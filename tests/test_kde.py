"""KDE (Kolchinsky-Tracey) bounds: the compiled one-pass sums against Saxe et al.'s formulas in
numpy, the bounds' order, and a Gaussian mixture whose entropy they must bracket."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

from infoplane.estimators import _kernels, get_estimator, knn
from infoplane.estimators.kde import ibsgd_bounds, kde_bounds, mixture_log_sums

FIELDS = ("i_xt_upper", "i_xt_lower", "i_ty_upper", "i_ty_lower")


def _values(b) -> np.ndarray:
    return np.array([getattr(b, f) for f in FIELDS])


@pytest.mark.parametrize(
    "n, d, noise_variance, classes",
    [
        (4096, 10, 1e-3, 10),  # the target case: widths up to 10, Saxe et al.'s noise
        (1001, 3, 0.1, 2),  # n not a multiple of the 4-row blocks, most pairs inside the cut
        (517, 1, 1e-2, 7),
        (6, 2, 0.5, 3),  # fewer rows than one block per thread
        (300, 12, 1e-4, 1),  # one class: I(T;Y) = 0
        (2050, 12, 0.1, 2),  # ibsgd's notebooks' noise at the widest layer: every pair inside the cut
        (1203, 5, 1e-3, 2),  # odd width (the kernel pads a zero coordinate)
        (998, 1, 0.1, 3),
    ],
)
def test_bounds_equal_ibsgd_reference(n, d, noise_variance, classes):
    rng = np.random.default_rng(n + d)
    h = np.tanh(2 * rng.standard_normal((n, d)))
    labels = rng.integers(0, classes, n)
    ours, ref = kde_bounds(h, labels, noise_variance), ibsgd_bounds(h, labels, noise_variance)
    np.testing.assert_allclose(_values(ours), _values(ref), rtol=0, atol=1e-9)
    if classes == 1:
        assert ours.i_ty_upper == pytest.approx(0.0, abs=1e-12) and ours.i_ty_lower == pytest.approx(0.0, abs=1e-12)


def test_estimator_bounds_equal_one_pass_and_reference():
    rng = np.random.default_rng(3)
    n = 700
    h = np.tanh(rng.standard_normal((n, 4))).astype(np.float32)  # the activation stores' dtype
    labels = rng.integers(0, 3, n)
    ids = np.arange(n)
    ref = ibsgd_bounds(h.astype(np.float64), labels, 0.01)
    got = {}
    for bound in ("upper", "lower"):
        est = get_estimator("kde", noise_variance=0.01, bound=bound)
        got[f"i_xt_{bound}"] = est.estimate(ids, h)
        got[f"i_ty_{bound}"] = est.estimate(h, labels)
        assert est.estimate(labels, h) == got[f"i_ty_{bound}"]  # either side order
    np.testing.assert_allclose([got[f] for f in FIELDS], _values(ref), rtol=0, atol=1e-9)
    np.testing.assert_allclose([got[f] for f in FIELDS], _values(kde_bounds(h, labels, 0.01)), rtol=0, atol=1e-12)


def test_cache_follows_the_content_not_the_buffer():
    rng = np.random.default_rng(4)
    h = rng.standard_normal((400, 3))
    ids = np.arange(400)
    est = get_estimator("kde", noise_variance=0.5)
    before = est.estimate(ids, h)
    h[:200] *= 0.1  # same buffer, new values
    after = est.estimate(ids, h)
    assert after == pytest.approx(ibsgd_bounds(h, np.zeros(400, dtype=int), 0.5).i_xt_upper, abs=1e-9)
    assert after < before - 0.1


def test_threads_do_not_change_the_sums(monkeypatch):
    rng = np.random.default_rng(5)
    h = rng.standard_normal((3000, 5))
    codes = rng.integers(0, 4, 3000)
    monkeypatch.setattr(knn, "_n_threads", lambda: 1)
    one = mixture_log_sums(h, codes, 0.3)
    monkeypatch.setattr(knn, "_n_threads", lambda: 5)
    five = mixture_log_sums(h, codes, 0.3)
    np.testing.assert_allclose(one, five, rtol=0, atol=1e-12)
    # the sums themselves, against logsumexp over the explicit matrix (row 0: 2 s^2; row 3: 8 s^2, same class)
    d2 = cdist(h, h, "sqeuclidean")
    np.testing.assert_allclose(one[0], logsumexp(-d2 / 0.6, axis=1), rtol=0, atol=1e-12)
    same = np.where(codes[:, None] == codes[None, :], -d2 / 2.4, -np.inf)
    np.testing.assert_allclose(one[3], logsumexp(same, axis=1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_lower_never_above_upper_for_i_xt(seed):
    rng = np.random.default_rng(seed)
    n, d = 500, 1 + seed
    h = rng.standard_normal((n, d)) * rng.uniform(0.01, 3)
    labels = rng.integers(0, 2 + seed, n)
    b = kde_bounds(h, labels, 10.0 ** rng.uniform(-4, 0))
    assert 0 <= b.i_xt_lower <= b.i_xt_upper <= math.log2(n) + 1e-12
    assert b.i_ty_lower <= b.i_ty_upper  # ordinary data; not guaranteed in general (see the docstring)


def _mixture_entropy_mc(centres: np.ndarray, s2: float, m: int, rng: np.random.Generator) -> tuple[float, float]:
    """Monte Carlo entropy (nats) and its standard error of (1/N) sum_i N(centres_i, s2 I)."""
    n, d = centres.shape
    t = centres[rng.integers(0, n, m)] + math.sqrt(s2) * rng.standard_normal((m, d))
    log_norm = math.log(n) + d / 2 * math.log(2 * math.pi * s2)
    logp = logsumexp(-cdist(t, centres, "sqeuclidean") / (2 * s2), axis=1) - log_norm
    return float(-logp.mean()), float(logp.std() / math.sqrt(m))


def test_bounds_bracket_a_gaussian_mixture_entropy():
    rng = np.random.default_rng(1)
    k, per, d, s2 = 4, 50, 2, 0.05
    centres = np.repeat(rng.standard_normal((k, d)) * 20, per, axis=0)  # 4 groups far apart
    h = centres + 0.3 * rng.standard_normal((k * per, d))  # each group spread ~ the noise
    labels = np.repeat(np.arange(k), per)
    b = kde_bounds(h, labels, s2)
    h_noise = d / 2 * math.log(2 * math.pi * math.e * s2)  # H(T|X) in nats
    lower, upper = (b.i_xt_lower * math.log(2) + h_noise, b.i_xt_upper * math.log(2) + h_noise)
    true, se = _mixture_entropy_mc(h, s2, 40000, rng)
    assert lower + 5 * se < true < upper - 5 * se  # about 1.80 < 2.09 < 2.64 nats
    # the groups do not overlap: knowing the group is knowing the label, I(T;Y) = log2(4)
    assert b.i_ty_lower == pytest.approx(2.0, abs=1e-9) and b.i_ty_upper == pytest.approx(2.0, abs=1e-9)


def test_separated_points_both_bounds_reach_log_k_plus_noise_entropy():
    # K distinct points far apart (each repeated): T is a mixture of K well separated Gaussians,
    # H(T) = ln K + d/2 ln(2 pi e s^2), and both bounds equal it
    rng = np.random.default_rng(2)
    k, per, d, s2 = 8, 30, 3, 0.01
    h = np.repeat(rng.standard_normal((k, d)) * 50, per, axis=0) + 1e-9 * rng.standard_normal((k * per, d))
    b = kde_bounds(h, np.zeros(k * per, dtype=int), s2)
    assert b.i_xt_upper == pytest.approx(3.0, abs=1e-6)
    assert b.i_xt_lower == pytest.approx(3.0, abs=1e-6)


@pytest.mark.parametrize("noise_variance", [1e-3, 0.1])
def test_ties_and_saturation_in_the_sorted_coordinate(noise_variance):
    # the kernel orders the samples by coordinate 0 and visits a window of it: saturated tanh
    # units (many samples at exactly +-1), a constant coordinate 0 and coarse ties must not
    # drop or double any pair
    rng = np.random.default_rng(7)
    n = 1500
    h = np.clip(rng.standard_normal((n, 4)) * 2, -1, 1)
    h[:, 1] = np.round(h[:, 1], 1)
    labels = rng.integers(0, 3, n)
    for hh in (h, h[:, ::-1], np.column_stack([np.full(n, 0.5), h])):
        ours, ref = kde_bounds(hh, labels, noise_variance), ibsgd_bounds(hh, labels, noise_variance)
        np.testing.assert_allclose(_values(ours), _values(ref), rtol=0, atol=1e-9)


def test_vectorised_exp_matches_numpy():
    # the kernel's polynomial exp against np.exp over the exponents it meets, and its cut
    rng = np.random.default_rng(8)
    x = np.concatenate([-rng.uniform(0, 50, 3000), -rng.uniform(0, 700, 1000), [0.0, -1e-300, -700.0]])
    got = -x  # distances D, with neg_inv = -1: exponent x
    m = len(x)
    _kernels._kde_exp(got, -1.0, -800.0, np.empty(m), np.empty(m))
    np.testing.assert_allclose(got, np.exp(x), rtol=1e-15, atol=0)  # a few ulp
    cut = -x
    _kernels._kde_exp(cut, -1.0, -30.0, np.empty(m), np.empty(m))
    np.testing.assert_array_equal(cut == 0.0, x <= -30.0)


def test_pair_sums_do_not_depend_on_the_thread_count(monkeypatch):
    """The kernel sums are bit-identical with 1 and 2 threads (fixed row chunks summed in
    order), so a Dask worker with one thread and a local run with two give the same table."""
    from infoplane.estimators import kde

    rng = np.random.default_rng(3)
    h = np.tanh(2 * rng.normal(size=(3000, 5)))
    labels = rng.integers(0, 3, size=3000)
    out = []
    for threads in ("1", "2"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        out.append(kde.mixture_log_sums(h, labels, 0.1))
    np.testing.assert_array_equal(out[0], out[1])


def test_estimate_does_not_depend_on_which_side_was_estimated_first():
    """The kde estimator's I(X;T) with sample ids is the same number whether or not the labels
    side of the same layer was estimated before in this process (the cache serves only the
    same call; a labels pass rounds its all-sample sums differently in the last bit)."""
    from infoplane.estimators import get_estimator, kde

    rng = np.random.default_rng(5)
    h = np.tanh(2 * rng.normal(size=(2000, 4)))
    labels, ids = rng.integers(0, 2, size=2000), np.arange(2000)
    est = get_estimator("kde", noise_variance=0.1)
    kde._CACHE.clear()
    first = est.estimate_with_error(ids, h)
    kde._CACHE.clear()
    est.estimate_with_error(h, labels)
    assert est.estimate_with_error(ids, h) == first
