"""Weighted Kozachenko-Leonenko MI (``wkl``): weights, known-MI cases, the shuffled reference,
labels, refusals, and its use in the synthetic-images study."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammaln

from infoplane.estimators import available, get_estimator, mutual_information
from infoplane.estimators.base import EstimatorRefused, UnreliableEstimateWarning
from infoplane.estimators.knn import local_dimension
from infoplane.estimators.wkl import MAX_WEIGHT_NORM, wkl_weights
from infoplane.synthetic import correlated_gaussian, label_gaussian, uniform_margins


@pytest.mark.parametrize("d, k", [(1, 5), (3, 40), (4, 5), (8, 40), (10, 40), (9, 20)])
def test_weights_sum_to_one_and_cancel_the_bias_terms(d, k):
    w = wkl_weights(d, k)
    j = np.arange(1, k + 1)
    assert w.shape == (k,)
    assert w.sum() == pytest.approx(1.0, abs=1e-10)
    for ell in range(1, d // 4 + 1):
        assert float(w @ np.exp(gammaln(j + 2 * ell / d) - gammaln(j))) == pytest.approx(0.0, abs=1e-8)
    if d < 4:  # no bias constraint: the mean of the k single-neighbour estimates
        np.testing.assert_allclose(w, np.full(k, 1.0 / k))
    assert np.linalg.norm(w) <= MAX_WEIGHT_NORM


def test_weights_refuse_too_few_neighbours_and_too_many_dimensions():
    with pytest.raises(ValueError, match=r"k=2 .* 8-dimensional .* use k >= 3"):
        wkl_weights(8, 2)
    with pytest.raises(ValueError, match=r"16-dimensional entropy with k=40 have norm .* Compress"):
        wkl_weights(16, 40)


def test_wkl_is_registered_and_validates_its_parameters():
    assert "wkl" in available()
    with pytest.raises(ValueError, match="reference must be 'shuffle' or 'marginals'"):
        get_estimator("wkl", reference="product")
    with pytest.raises(ValueError, match="shuffles"):
        get_estimator("wkl", shuffles=0)


@pytest.mark.parametrize(
    "dim, bits, tol",
    [(1, 1.0, 0.06), (1, 8.0, 0.06), (3, 4.0, 0.1), (3, 8.0, 0.15), (5, 4.0, 0.4)],
)
def test_wkl_on_correlated_gaussians(dim, bits, tol):
    # measured over 4 seeds at n = 5000: sd 0.01-0.03 bits up to 3 + 3 dimensions, 0.12 at 5 + 5
    x, y, true = correlated_gaussian(3000, dim, bits, seed=dim)
    assert mutual_information(x, y, method="wkl") == pytest.approx(true, abs=tol)


def test_shuffled_reference_cancels_the_dimension_bias():
    """Independent uniform 4 + 4 dimensions (bounded support: the k-NN entropy bias differs
    between 4 and 8 dimensions): the shuffled reference stays near 0, the textbook
    h(X) + h(Y) - h(X, Y) does not."""
    shuffle, marginals = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x, y = rng.random((3000, 4)), rng.random((3000, 4))
        shuffle.append(mutual_information(x, y, method="wkl"))
        marginals.append(mutual_information(x, y, method="wkl", reference="marginals"))
    assert abs(np.mean(shuffle)) < 0.15
    assert abs(np.mean(shuffle)) < 0.5 * abs(np.mean(marginals))


def test_wkl_at_high_mi_with_uniform_margins():
    # 7 bits over 4 + 4 uniform-margin coordinates: KSG gives about 4.7 here
    x, y, true = uniform_margins(3000, 4, 7.0, seed=0)
    assert mutual_information(x, y, method="wkl") == pytest.approx(true, rel=0.1)


def test_wkl_with_labels():
    x, labels, true = label_gaussian(4000, 2, 1.5, seed=0)
    for reference in ("shuffle", "marginals"):
        value, se = get_estimator("wkl", reference=reference).estimate_with_error(x, labels)
        assert value == pytest.approx(true, abs=0.1), reference
        assert 0 < se < 0.1
    x_indep = np.random.default_rng(1).standard_normal((3000, 3))
    assert abs(mutual_information(x_indep, labels[:3000], method="wkl")) < 0.05


def test_wkl_is_deterministic_and_symmetric_in_its_seeded_parts():
    x, y, _ = correlated_gaussian(1000, 2, 2.0, seed=3)
    a = get_estimator("wkl", seed=5).estimate_with_error(x, y)
    b = get_estimator("wkl", seed=5).estimate_with_error(x, y)
    assert a == b
    assert mutual_information(y, x, method="wkl") == pytest.approx(a[0], abs=0.1)


def test_wkl_refuses_duplicates_without_jitter_room():
    """Every row three times: an atomic distribution (differential entropy -inf). The 1e-10
    tie-breaking noise would hide it behind a finite number; the estimator refuses instead."""
    x = np.repeat(np.random.default_rng(0).standard_normal((50, 2)), 3, axis=0)
    y = np.random.default_rng(1).standard_normal((150, 2))
    with pytest.raises(EstimatorRefused, match=r"wkl: x \(2 columns\): 100 of 150 samples repeat .*50 distinct.*ksg"):
        mutual_information(x, y, method="wkl", k=5)


# ---- support checks shared by kl and wkl (infoplane.estimators.knn.check_entropy_support) ----
def _swiss_roll(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x on a curve in 2-D (a spiral of its parameter s), y = s + noise: I(X;Y) = I(S;Y) is
    finite, but x has no density in 2-D (bmi's swissroll task, made with numpy)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
    return np.c_[s * np.cos(s), s * np.sin(s)], s + rng.standard_normal(n)


@pytest.mark.parametrize("method", ["kl", "wkl"])
def test_curve_in_2d_refuses_naming_the_dimension(method):
    x, y = _swiss_roll(3000, 0)
    with pytest.raises(EstimatorRefused, match=rf"{method}: x \(2 columns\): .*dimension 1\.[0-9], not 2 .*ksg"):
        mutual_information(x, y, method=method)
    with pytest.raises(EstimatorRefused, match="dimension 1"):
        mutual_information(y, x, method=method)  # either side
    # the estimator the message points to works on it: true I(S;Y) for s uniform on an interval
    # of width 3 pi and unit Gaussian noise is 1.466 bits (numerical integral); KSG measured 1.462
    assert mutual_information(x, y, method="ksg") == pytest.approx(1.466, abs=0.1)


def test_local_dimension_of_gaussians_and_a_curve():
    rng = np.random.default_rng(0)
    for d in (1, 3, 6, 10):  # 10: the brute-force (cdist) search; measured 1.00, 3.02, 5.99, 9.31
        assert local_dimension(rng.standard_normal((3000, d))) == pytest.approx(d, rel=0.1)
    assert local_dimension(_swiss_roll(3000, 1)[0]) == pytest.approx(1.0, abs=0.15)
    assert math.isnan(local_dimension(np.zeros((30, 2))))  # one distinct row


@pytest.mark.parametrize("method", ["kl", "wkl"])
def test_saturated_layers_refuse(method):
    """tanh units saturated at exactly +-1 (float32) and a two-class softmax (its two
    coordinates sum to 1) against labels: the continuous side has atoms / a 1-D support."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    sign = (2 * labels - 1)[:, None]
    tanh = np.tanh(20.0 * sign + rng.standard_normal((2000, 3))).astype(np.float32)
    with pytest.raises(EstimatorRefused, match=r"samples repeat another sample exactly .*atoms"):
        mutual_information(tanh, labels, method=method)
    p = 1.0 / (1.0 + np.exp(-(3.0 * sign[:, 0] + rng.standard_normal(2000))))
    with pytest.raises(EstimatorRefused, match=r"dimension 1\.[0-9], not 2"):
        mutual_information(np.c_[p, 1.0 - p], labels, method=method)


@pytest.mark.parametrize("method", ["kl", "wkl"])
def test_cauchy_tails_refuse(method):
    rng = np.random.default_rng(0)
    x = rng.standard_cauchy((3000, 2))
    with pytest.raises(EstimatorRefused, match=r"top 1% of the samples carry .*Cauchy"):
        mutual_information(x, x + rng.standard_cauchy((3000, 2)), method=method)


def test_wkl_on_dense_gaussian_5_5():
    """bmi's multinormal-dense-5-5-0.5 (every pair of the 10 coordinates correlated 0.5; true
    0.593 nats), drawn as standard normals times the Cholesky factor (numpy's
    ``multivariate_normal`` factors by LAPACK's SVD, whose signs changed the draws between numpy
    builds): on 8 seeds every estimate lies within 3 of its own standard errors of the truth
    (measured 0.54-0.80 nats, s.e. 0.08, spread 0.086) and their mean within 0.1 nats (measured
    0.652); kl refuses (10 joint coordinates, test_estimators)."""
    cov = np.full((10, 10), 0.5) + 0.5 * np.eye(10)
    true = 0.5 * (2 * np.linalg.slogdet(cov[:5, :5])[1] - np.linalg.slogdet(cov)[1])
    assert true == pytest.approx(0.5928, abs=1e-4)
    factor = np.linalg.cholesky(cov)
    values = []
    for seed in range(8):
        z = np.random.default_rng(seed).standard_normal((5000, 10)) @ factor.T
        bits, se = get_estimator("wkl").estimate_with_error(z[:, :5], z[:, 5:])
        values.append(bits * math.log(2))
        assert abs(values[-1] - true) < 3 * se * math.log(2), seed
    assert np.mean(values) == pytest.approx(true, abs=0.1)


def test_negative_estimate_beyond_its_error_warns():
    """The textbook reference on independent uniform 4 + 4 dimensions is biased below 0 by
    several standard errors (measured -0.26 and -0.42 bits, se 0.1): a warning, not silence."""
    rng = np.random.default_rng(1)
    x, y = rng.random((3000, 4)), rng.random((3000, 4))
    with pytest.warns(UnreliableEstimateWarning, match=r"wkl: negative MI -0\.\d+ bits, more than 2 standard errors"):
        value, se = get_estimator("wkl", reference="marginals").estimate_with_error(x, y)
    assert value < -2 * se


