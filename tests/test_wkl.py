"""Weighted Kozachenko-Leonenko MI (``wkl``): weights, known-MI cases, the shuffled reference,
labels, refusals. Its refusal of raw pixels in the synthetic-images study is tested in
test_synthetic_images.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammaln

from infoplane.estimators import available, get_estimator, mutual_information
from infoplane.estimators.wkl import MAX_WEIGHT_NORM, wkl_weights
from infoplane.synthetic import correlated_gaussian, label_gaussian, uniform_margins


@pytest.mark.parametrize("d, k", [(1, 5), (3, 40), (4, 5), (8, 40), (10, 40), (9, 20)])
def test_weights_sum_to_one_and_cancel_the_bias_terms(d, k):
    w = wkl_weights(d, k)
    j = np.arange(1, k + 1)
    assert w.shape == (k,)
    assert w.sum() == pytest.approx(1.0, abs=1e-10)
    for l in range(1, d // 4 + 1):
        assert float(w @ np.exp(gammaln(j + 2 * l / d) - gammaln(j))) == pytest.approx(0.0, abs=1e-8)
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


def test_wkl_tie_breaking_jitter_separates_duplicated_rows():
    """Every x row three times (exact duplicates, zero nearest-neighbour distances before the
    1e-10 tie-breaking noise) and an independent y: a finite estimate near 0, not an error and
    not a -inf from log(0) (measured -0.60 to 0.25 bits over seeds 0-3 at n = 150)."""
    x = np.repeat(np.random.default_rng(0).standard_normal((50, 2)), 3, axis=0)
    y = np.random.default_rng(10).standard_normal((150, 2))
    value = mutual_information(x, y, method="wkl", k=5)
    assert math.isfinite(value) and abs(value) < 1.0, value
