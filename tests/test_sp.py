"""The sample-propagation (SP) estimator: the compiled pass against a plain double loop, mixtures
whose entropy is known (far apart, coincident, numerical quadrature in 1-D and 2-D), the honesty
of its standard error over seeds, determinism, argument order and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.spatial.distance import cdist
from scipy.special import logsumexp
from scipy.stats import norm

from infoplane.estimators import available, get_estimator, knn, sp
from infoplane.estimators.base import EstimatorRefused, accepts_sample_ids
from infoplane.estimators.sp import noise_draws, sp_reference, sp_summary, sp_terms

LN2 = math.log(2.0)


def dense_reference(s: np.ndarray, codes: np.ndarray | None, beta: float, z: np.ndarray) -> np.ndarray:
    """sp_terms by dense matrices: cdist of all draws and centres, explicit Gaussian log-densities,
    scipy logsumexp (no cut, no polynomial exp). For sizes the double loop cannot reach."""
    n, samples, d = z.shape
    t = (s[:, None, :] + beta * z).reshape(-1, d)
    logpdf = -cdist(t, s, "sqeuclidean") / (2 * beta**2) - d / 2 * math.log(2 * math.pi * beta**2)
    codes = np.arange(n) if codes is None else codes
    own = np.repeat(codes, samples)
    same = own[:, None] == codes[None, :]
    counts = np.bincount(codes)[own]
    cond = logsumexp(np.where(same, logpdf, -np.inf), axis=1) - np.log(counts)
    return (cond - (logsumexp(logpdf, axis=1) - math.log(n))).reshape(n, samples)


# ---- the fast path equals the references -----------------------------------------------------
@pytest.mark.parametrize("n, d, beta, samples, classes", [
    (40, 3, 0.05, 3, None),  # sample ids
    (40, 3, 0.05, 2, 3),  # labels
    (33, 1, 0.2, 1, 2),  # one draw per component, 1-D
    (25, 12, 0.01, 2, 4),  # the widest layer of the 12-bit network
])
def test_terms_equal_the_double_loop(n, d, beta, samples, classes):
    rng = np.random.default_rng(100 + n)
    s = np.tanh(rng.standard_normal((n, d))) * 0.1  # components overlap at these betas
    codes = None if classes is None else rng.integers(0, classes, n)
    z = noise_draws(n, d, samples, seed=5)
    np.testing.assert_allclose(sp_terms(s, codes, beta, z), sp_reference(s, codes, beta, z), rtol=0, atol=1e-9)


@pytest.mark.parametrize("n, d, beta, classes", [
    (1300, 5, 0.005, 2),  # several column tiles and row blocks on the thread pool
    (1300, 10, 0.05, 10),  # most pairs inside the cut
    (40, 500, 0.05, 3),  # own term above the polynomial's range: the online libm path
])
def test_terms_equal_dense_reference(n, d, beta, classes, monkeypatch):
    monkeypatch.setattr(knn, "_n_threads", lambda: 3)
    rng = np.random.default_rng(n + d)
    s = np.tanh(rng.standard_normal((n, d)) * 0.2)
    codes = rng.integers(0, classes, n)
    z = noise_draws(n, d, 2, seed=1)
    for c in (None, codes):
        np.testing.assert_allclose(sp_terms(s, c, beta, z), dense_reference(s, c, beta, z), rtol=0, atol=1e-9)


def test_polynomial_exp_matches_numpy():
    """_exp_sum(b, m, scale) = sum exp(-b * scale) over exponents >= -256 (the rest count 0)."""
    x = np.concatenate([np.linspace(0, 256, 20_001), [1e-300, 255.999999, 256.0, 256.5, 1e6]])
    for v in x[::97]:
        want = math.exp(-v) if v <= 256.0 else 0.0
        assert sp._exp_sum(np.array([v]), 1, 1.0) == pytest.approx(want, rel=1e-13, abs=0), v
    assert sp._exp_sum(x, len(x), 1.0) == pytest.approx(np.exp(-x[x <= 256]).sum(), rel=1e-13)
    assert sp._exp_sum(x / 4, len(x), 4.0) == pytest.approx(np.exp(-x[x <= 256]).sum(), rel=1e-13)


# ---- mixtures of known entropy ----------------------------------------------------------------
def test_far_apart_components_give_log2_n_and_label_entropy():
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(8), np.arange(8)), axis=-1).reshape(-1, 2).astype(float)  # spacing 1
    labels = rng.integers(0, 3, 64)
    est = get_estimator("sp", beta=0.01)
    v, se = est.estimate_with_error(np.arange(64), grid)
    assert v == pytest.approx(6.0, abs=1e-9) and se < 1e-9
    p = np.bincount(labels) / 64
    v, se = est.estimate_with_error(grid, labels)
    assert v == pytest.approx(float(-(p * np.log2(p)).sum()), abs=1e-9) and se < 1e-9


def test_coincident_components_give_zero_and_clusters_their_entropy():
    est = get_estimator("sp", beta=0.01)
    ids = np.arange(100)
    assert est.estimate_with_error(ids, np.full((100, 3), 0.3)) == (0.0, 0.0)
    # two far-apart clusters of 30 and 70 coincident points: T keeps only the cluster
    s = np.repeat([[0.0, 0.0], [1.0, -1.0]], [30, 70], axis=0)
    v, se = est.estimate_with_error(ids, s)
    assert v == pytest.approx(-(0.3 * math.log2(0.3) + 0.7 * math.log2(0.7)), abs=1e-9) and se < 1e-9
    labels = np.repeat([0, 1], [30, 70])
    assert est.estimate(s, labels) == pytest.approx(v, abs=1e-9)  # the label is the cluster
    assert est.estimate(s, np.arange(100) % 2) == pytest.approx(0.0, abs=1e-9)  # both clusters mixed


def mixture_entropy_1d(centres: np.ndarray, beta: float) -> float:
    """h(g) in nats of g(t) = mean_j N(t; c_j, beta^2), by adaptive quadrature on the merged
    intervals [c_j - 12 beta, c_j + 12 beta] (outside them g < 1e-31)."""
    centres = np.sort(np.asarray(centres, dtype=float))

    def integrand(t: float) -> float:
        g = float(np.mean(norm.pdf(t, centres, beta)))
        return -g * math.log(g) if g > 0 else 0.0

    total, lo, hi = 0.0, centres[0] - 12 * beta, centres[0] + 12 * beta
    for c in centres[1:]:
        if c - 12 * beta > hi:
            total += quad(integrand, lo, hi, points=centres[(centres > lo) & (centres < hi)], limit=500)[0]
            lo = c - 12 * beta
        hi = c + 12 * beta
    return total + quad(integrand, lo, hi, points=centres[(centres > lo) & (centres < hi)], limit=500)[0]


def mixture_entropy_2d(centres: np.ndarray, beta: float) -> float:
    """h(g) in nats of an equal-weight isotropic 2-D Gaussian mixture by the trapezoid rule on a
    grid of spacing beta / 12 over the centres' box +- 10 beta (spectrally accurate for this
    smooth, fast-decaying integrand)."""
    h = beta / 12
    axes = [np.arange(centres[:, k].min() - 10 * beta, centres[:, k].max() + 10 * beta + h, h) for k in range(2)]
    gx, gy = np.meshgrid(*axes, indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    g = np.zeros(len(pts))
    for c in centres:
        g += np.exp(-((pts - c) ** 2).sum(axis=1) / (2 * beta**2))
    g /= len(centres) * 2 * math.pi * beta**2
    return float(-(g[g > 0] * np.log(g[g > 0])).sum() * h * h)


def gaussian_entropy(d: int, beta: float) -> float:
    return d / 2 * math.log(2 * math.pi * math.e * beta**2)


LAYOUTS_1D = {
    "two overlapping": [0.0, 0.6],
    "uneven cluster": [0.0, 0.1, 0.15, 0.9, 2.0, 2.05],
    "tanh-like saturation": list(np.tanh(np.linspace(-3, 3, 9)) * 2),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS_1D))
def test_ids_against_quadrature_1d(layout):
    s = np.array(LAYOUTS_1D[layout])[:, None]
    beta = 0.3
    truth = (mixture_entropy_1d(s[:, 0], beta) - gaussian_entropy(1, beta)) / LN2
    v, se = get_estimator("sp", beta=beta, samples=3000, seed=11).estimate_with_error(np.arange(len(s)), s)
    assert 0 < se < 0.02
    assert abs(v - truth) < 3 * se + 1e-3, (v, truth, se)


def test_labels_against_quadrature_1d():
    s = np.array([0.0, 0.2, 0.5, 0.9, 1.0, 1.6, 2.4])
    labels = np.array([0, 0, 1, 0, 1, 1, 1])
    beta = 0.35
    h_t = mixture_entropy_1d(s, beta)
    h_t_y = sum(np.mean(labels == c) * mixture_entropy_1d(s[labels == c], beta) for c in (0, 1))
    truth = (h_t - h_t_y) / LN2
    v, se = get_estimator("sp", beta=beta, samples=3000, seed=3).estimate_with_error(s[:, None], labels)
    assert 0 < se < 0.01
    assert abs(v - truth) < 3 * se + 1e-3, (v, truth, se)


@pytest.mark.parametrize("seed", [0, 1])
def test_ids_and_labels_against_grid_2d(seed):
    rng = np.random.default_rng(40 + seed)
    s = rng.uniform(0, 1.2, (7, 2))
    labels = np.array([0, 1, 0, 1, 1, 0, 0])
    beta = 0.25
    h_t = mixture_entropy_2d(s, beta)
    truth_xt = (h_t - gaussian_entropy(2, beta)) / LN2
    truth_ty = (h_t - sum(np.mean(labels == c) * mixture_entropy_2d(s[labels == c], beta) for c in (0, 1))) / LN2
    est = get_estimator("sp", beta=beta, samples=2000, seed=seed)
    v, se = est.estimate_with_error(np.arange(7), s)
    assert abs(v - truth_xt) < 3 * se + 1e-3, (v, truth_xt, se)
    v, se = est.estimate_with_error(labels, s)
    assert abs(v - truth_ty) < 3 * se + 1e-3, (v, truth_ty, se)


def test_grid_2d_matches_quadrature_on_a_product_case():
    """The 2-D reference itself: one component has the closed form, two along an axis the 1-D
    quadrature plus the other axis' Gaussian entropy."""
    beta = 0.25
    assert mixture_entropy_2d(np.array([[0.3, 0.1]]), beta) == pytest.approx(gaussian_entropy(2, beta), abs=1e-9)
    two = np.array([[0.0, 0.0], [0.4, 0.0]])
    expected = mixture_entropy_1d(two[:, 0], beta) + gaussian_entropy(1, beta)
    assert mixture_entropy_2d(two, beta) == pytest.approx(expected, abs=1e-9)


# ---- the standard error ----------------------------------------------------------------------
def clustered_layer() -> tuple[np.ndarray, np.ndarray]:
    """200 points in four clusters of 50 (spread 0.01) in 2-D, two pairs of clusters 0.03 apart;
    labels: one cluster of each pair per class. With beta = 0.01 neither I(X;T) nor I(T;Y) is
    near its extreme."""
    rng = np.random.default_rng(12345)  # not a seed of the draws below: layout and draws independent
    centres = np.array([[0, 0], [0.03, 0], [0.5, 0.5], [0.52, 0.49]])
    s = np.repeat(centres, 50, axis=0) + 0.01 * rng.standard_normal((200, 2))
    return s, np.repeat([0, 1, 0, 1], 50)


@pytest.mark.parametrize("samples", [2, 4])
def test_standard_error_matches_the_spread_over_seeds(samples):
    """Measured ratios (mean reported s.e. / std over 50 seeds): 1.06 and 1.05 at 2 draws per
    component, 0.96 and 0.90 at 4 (I(X;T), I(T;Y))."""
    s, labels = clustered_layer()
    for a, b in ((np.arange(200), s), (s, labels)):
        runs = [get_estimator("sp", beta=0.01, samples=samples, seed=k).estimate_with_error(a, b) for k in range(50)]
        values, errors = np.array(runs).T
        ratio = errors.mean() / values.std(ddof=1)
        assert 1 / 1.5 < ratio < 1.5, ratio


def test_one_draw_per_component_reports_a_conservative_error():
    """Measured: 0.95 (I(X;T)) and 1.41 (I(T;Y)); the plain std / sqrt(n) also counts the spread
    between components, so it is not below the true error beyond the noise of 50 seeds."""
    s, labels = clustered_layer()
    for a, b in ((np.arange(200), s), (s, labels)):
        runs = [get_estimator("sp", beta=0.01, samples=1, seed=k).estimate_with_error(a, b) for k in range(50)]
        values, errors = np.array(runs).T
        assert errors.mean() / values.std(ddof=1) > 1 / 1.5


def test_summary_is_the_stratified_error():
    terms = np.array([[1.0, 3.0], [2.0, 2.0], [0.0, 4.0]])  # nats
    value, se = sp_summary(terms)
    assert value == pytest.approx(2.0 / LN2)
    assert se == pytest.approx(math.sqrt((2.0 + 0.0 + 8.0) / 2) / 3 / LN2)
    value, se = sp_summary(np.array([[1.0], [2.0], [6.0]]))
    assert se == pytest.approx(np.std([1.0, 2.0, 6.0], ddof=1) / math.sqrt(3) / LN2)


# ---- interface ------------------------------------------------------------------------------
def test_registered_with_sample_ids_and_defaults():
    assert "sp" in available() and accepts_sample_ids("sp")
    assert get_estimator("sp").params == {"beta": 0.005, "samples": 2, "seed": 0}


def test_deterministic_order_free_and_relabelling_invariant():
    rng = np.random.default_rng(9)
    s = np.tanh(rng.standard_normal((300, 4)) * 0.02).astype(np.float32)  # the stores' dtype
    labels = rng.integers(0, 3, 300)
    ids = np.arange(300)
    est = get_estimator("sp", beta=0.01, seed=4)
    sp._CACHE.clear()
    xt = est.estimate_with_error(ids, s)
    ty = est.estimate_with_error(s, labels)
    assert est.estimate_with_error(s, ids) == xt and est.estimate_with_error(labels, s) == ty
    assert get_estimator("sp", beta=0.01, seed=4).estimate_with_error(ids, s.astype(np.float64)) == xt
    assert est.estimate_with_error(s, np.array([7, -2, 40])[labels]) == ty
    sp._CACHE.clear()  # the sums over all components, recomputed, give the same floats
    assert est.estimate_with_error(s, labels) == ty
    other = get_estimator("sp", beta=0.01, seed=5).estimate_with_error(ids, s)
    assert other[0] != xt[0] and abs(other[0] - xt[0]) < 5 * xt[1]
    # shuffled ids are sample ids too; a bootstrap resample (repeated ids with their rows) as well
    perm = rng.permutation(300)
    assert est.estimate(perm, s) == pytest.approx(xt[0], abs=1e-12)
    idx = rng.integers(0, 300, 300)
    assert math.isfinite(est.estimate(ids[idx], s[idx]))


def test_refusals_and_bad_parameters():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((50, 2))
    with pytest.raises(EstimatorRefused, match="one continuous side .* both continuous"):
        get_estimator("sp").estimate(s, s[:, :1])
    with pytest.raises(EstimatorRefused, match="both discrete"):
        get_estimator("sp").estimate(np.arange(50), np.arange(50) % 3)
    for bad in (0, -0.1, float("nan"), float("inf"), True, "0.1", None):
        with pytest.raises(ValueError, match="sp: beta must be a positive finite number"):
            get_estimator("sp", beta=bad)
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match="sp: samples must be an integer >= 1"):
            get_estimator("sp", samples=bad)
    with pytest.raises(ValueError, match="sp: seed must be an integer >= 0"):
        get_estimator("sp", seed=-1)
    with pytest.raises(ValueError, match='no parameter .betta.*did you mean "beta"'):
        get_estimator("sp", betta=0.1)
