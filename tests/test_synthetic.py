"""Distributions with known MI: shapes, seeds, and the true MI checked by Monte Carlo of the
log density ratio log p(x, y) - log p(x) - log p(y) (exact densities from scipy.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from infoplane.synthetic import (
    DISTRIBUTIONS,
    correlated_gaussian,
    discrete_label_gaussian,
    label_gaussian,
    label_gaussian_mi_bits,
    label_gaussian_separation,
    student_t,
    student_t_tail_mi_bits,
    uniform_margins,
)
from infoplane.units import nats_to_bits

N_MC = 40_000
TOL = 0.03  # bits


def _rho(mi_bits: float, dim: int) -> float:
    return math.sqrt(1.0 - 2.0 ** (-2.0 * mi_bits / dim))


def _pair_cov(dim: int, rho: float) -> np.ndarray:
    eye = np.eye(dim)
    return np.block([[eye, rho * eye], [rho * eye, eye]])


def _gaussian_mi_from_sample(x: np.ndarray, y: np.ndarray) -> float:
    c = np.cov(np.hstack([x, y]), rowvar=False)
    d = x.shape[1]
    _, ld = np.linalg.slogdet(c)
    _, ldx = np.linalg.slogdet(c[:d, :d])
    _, ldy = np.linalg.slogdet(c[d:, d:])
    return nats_to_bits(-0.5 * (ld - ldx - ldy))


# ------------------------------------------------------------------------------ shapes, seeds


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_registry_shapes_seeds_and_true_mi(name):
    x, y, _ = DISTRIBUTIONS[name](300, 3, 1.5, 7)
    assert x.shape == (300, 3) and x.dtype == np.float64
    if name == "label_gaussian":
        assert y.shape == (300,) and y.dtype == np.int64
    else:
        assert y.shape == (300, 3) and y.dtype == np.float64
    # (the returned true MI is checked against Monte Carlo of the log density ratio below)
    x2, y2, _ = DISTRIBUTIONS[name](300, 3, 1.5, 7)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _, _ = DISTRIBUTIONS[name](300, 3, 1.5, 8)
    assert not np.array_equal(x, x3)


def test_uniform_margins_are_uniform_on_unit_interval():
    x, y, mi = uniform_margins(20_000, 4, 2.0, 0)
    assert mi == pytest.approx(2.0)
    assert x.min() >= 0 and x.max() <= 1 and y.min() >= 0 and y.max() <= 1
    for col in np.hstack([x, y]).T:
        assert stats.kstest(col, "uniform").pvalue > 1e-3
    # the same Gaussian draw through the normal CDF
    gx, gy, _ = correlated_gaussian(20_000, 4, 2.0, 0)
    np.testing.assert_allclose(stats.norm.ppf(x), gx, atol=1e-8)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: correlated_gaussian(0, 2, 1.0, 0), r"n must be an integer >= 1; got n=0"),
        (lambda: correlated_gaussian(10, 0, 1.0, 0), r"dim must be an integer >= 1; got dim=0"),
        (lambda: correlated_gaussian(10, 2, -1.0, 0), r"mi_bits must be finite and >= 0; got mi_bits=-1\.0"),
        (lambda: correlated_gaussian(10, 2, float("nan"), 0), r"mi_bits must be finite and >= 0; got mi_bits=nan"),
        (lambda: correlated_gaussian(10, 2, 1.0, -3), r"seed must be an integer >= 0; got seed=-3"),
        (lambda: student_t(10, 2, 5, 0, mi_bits=0.01),  # below the tail MI
         r"student_t: mi_bits=0\.01 is below the MI of the uncorrelated t with dof=5 and dim=2"),
        (lambda: student_t(10, 2, 0, 0), r"dof must be a finite number > 0; got dof=0"),
        (lambda: label_gaussian_separation(2.0, 4),  # not below log2(4)
         r"label_gaussian: mi_bits=2 must be below log2\(n_classes\)=2 \(n_classes=4\)"),
        (lambda: label_gaussian(10, 2, -0.5, 0), r"mi_bits must be finite and >= 0; got mi_bits=-0\.5"),
        (lambda: discrete_label_gaussian(10, 2, 0, 1.0, 0), r"n_classes must be an integer >= 1; got n_classes=0"),
        (lambda: DISTRIBUTIONS["student_t"](10, 2, 0.0, 0), r"student_t: mi_bits=0 is too small for dim=2"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------------------ true MI by MC


@pytest.mark.parametrize("dim,mi", [(1, 0.5), (3, 2.0), (5, 4.0)])
def test_gaussian_true_mi_monte_carlo(dim, mi):
    x, y, true = correlated_gaussian(N_MC, dim, mi, 1, rotate=False)
    rho = _rho(mi, dim)
    joint = stats.multivariate_normal(np.zeros(2 * dim), _pair_cov(dim, rho))
    marg = stats.multivariate_normal(np.zeros(dim), np.eye(dim))
    terms = joint.logpdf(np.hstack([x, y])) - marg.logpdf(x) - marg.logpdf(y)
    assert true == pytest.approx(mi, abs=1e-12)
    assert abs(nats_to_bits(terms.mean()) - true) < TOL


@pytest.mark.parametrize("dim,mi", [(1, 1.0), (3, 2.0)])
def test_uniform_margins_true_mi_monte_carlo(dim, mi):
    """Copula density: log c(u, v) = log p_gauss(Phi^-1 u, Phi^-1 v) - sum log phi(Phi^-1 .)."""
    u, v, true = uniform_margins(N_MC, dim, mi, 2, rotate=False)
    gx, gy = stats.norm.ppf(u), stats.norm.ppf(v)
    joint = stats.multivariate_normal(np.zeros(2 * dim), _pair_cov(dim, _rho(mi, dim)))
    # the uniform margins have density 1, so log p(u) = log p(v) = 0
    log_copula = joint.logpdf(np.hstack([gx, gy])) - stats.norm.logpdf(gx).sum(1) - stats.norm.logpdf(gy).sum(1)
    assert abs(nats_to_bits(log_copula.mean()) - true) < TOL


@pytest.mark.parametrize("dim,dof,mi", [(1, 5, 0.5), (2, 3, None), (3, 5, 2.0), (10, 8, 1.0)])
def test_student_t_true_mi_monte_carlo(dim, dof, mi):
    x, y, true = student_t(N_MC, dim, dof, 3, mi_bits=mi, rotate=False)
    tail = student_t_tail_mi_bits(dof, dim, dim)
    if mi is None:
        assert true == pytest.approx(tail)
        rho = 0.0
    else:
        assert true == pytest.approx(mi, abs=1e-12)
        rho = _rho(mi - tail, dim)
    joint = stats.multivariate_t(np.zeros(2 * dim), _pair_cov(dim, rho), df=dof)
    marg = stats.multivariate_t(np.zeros(dim), np.eye(dim), df=dof)
    terms = joint.logpdf(np.hstack([x, y])) - marg.logpdf(x) - marg.logpdf(y)
    assert abs(nats_to_bits(terms.mean()) - true) < TOL


def test_student_t_tail_mi_matches_closed_form_limits():
    # vanishes as dof -> inf (Gaussian: no tail dependence), falls with dof, symmetric in dx, dy
    assert student_t_tail_mi_bits(1e6, 3, 3) < 1e-9
    assert student_t_tail_mi_bits(5, 2, 2) > student_t_tail_mi_bits(10, 2, 2) > 0
    assert student_t_tail_mi_bits(5, 2, 3) == pytest.approx(student_t_tail_mi_bits(5, 3, 2))


def test_student_t_registry_raises_dof_when_needed():
    x, y, true = DISTRIBUTIONS["student_t"](100, 25, 0.5, 0)
    assert true == pytest.approx(0.5)
    assert student_t_tail_mi_bits(5, 25, 25) > 0.5  # so dof 5 could not have been used


@pytest.mark.parametrize("k,sep", [(2, 2.0), (4, 1.5), (5, 3.0)])
def test_label_gaussian_true_mi_monte_carlo(k, sep):
    x, labels, true = discrete_label_gaussian(N_MC, 3, k, sep, 4, rotate=False)
    means = sep * (np.arange(k) - (k - 1) / 2.0)
    mu = np.zeros((k, 3))
    mu[:, 0] = means
    logp = np.stack([stats.multivariate_normal(mu[c], np.eye(3)).logpdf(x) for c in range(k)], axis=1)
    terms = logp[np.arange(N_MC), labels] - (logsumexp(logp, axis=1) - math.log(k))
    assert 0 < true < math.log2(k)
    assert abs(nats_to_bits(terms.mean()) - true) < TOL


def test_label_gaussian_quadrature_agrees_with_reference():
    for k, sep in [(2, 1.0), (3, 4.0)]:
        fast = label_gaussian_mi_bits(k, sep)
        slow = label_gaussian_mi_bits(k, sep, method="quad")
        assert fast == pytest.approx(slow, abs=1e-8)
    assert label_gaussian_mi_bits(4, 0.0) == 0.0
    assert label_gaussian_mi_bits(4, 50.0) == pytest.approx(2.0, abs=1e-9)  # disjoint: H(C)


@pytest.mark.parametrize("mi", [0.5, 1.0, 2.0, 3.7])
def test_label_gaussian_hits_target(mi):
    """The separation solved for the target gives that MI by the slow quadrature reference."""
    x, labels, true = label_gaussian(2000, 2, mi, 0)
    k = 2 ** (math.floor(mi) + 1)
    assert labels.max() < k and len(np.unique(labels)) == k
    sep = label_gaussian_separation(mi, k)
    assert label_gaussian_mi_bits(k, sep, method="quad") == pytest.approx(mi, abs=1e-6)
    assert true == pytest.approx(label_gaussian_mi_bits(k, sep, method="quad"), abs=1e-6)
    # and the sample is that distribution: consecutive class means sep apart (on a rotated line)
    means = np.array([x[labels == c].mean(axis=0) for c in range(k)])
    # (each coordinate of a difference of two class means has s.d. sqrt(2 k / n): allow 4 of them)
    tol = 4 * math.sqrt(2 * k / len(labels))
    np.testing.assert_allclose(np.linalg.norm(np.diff(means, axis=0), axis=1), sep, atol=tol)


# ------------------------------------------------------------------------------ rotation


def test_rotation_is_an_orthogonal_map_of_each_side():
    x0, y0, _ = correlated_gaussian(500, 4, 2.0, 5, rotate=False)
    x1, y1, _ = correlated_gaussian(500, 4, 2.0, 5, rotate=True)
    for a, b in [(x0, x1), (y0, y1)]:
        q, *_ = np.linalg.lstsq(a, b, rcond=None)
        np.testing.assert_allclose(a @ q, b, atol=1e-10)
        np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-10)
        assert not np.allclose(q, np.eye(4))  # it did rotate


@pytest.mark.parametrize("dim,mi", [(2, 1.0), (5, 2.0)])
def test_rotation_keeps_mi_sample_covariance(dim, mi):
    """Gaussian MI from the sample covariance, -1/2 log det C / (det Cx det Cy)."""
    for rotate in (False, True):
        x, y, true = correlated_gaussian(20_000, dim, mi, 6, rotate=rotate)
        assert abs(_gaussian_mi_from_sample(x, y) - true) < TOL
    # the rotation mixes the pairs: some off-pair cross-correlation appears
    x, y, _ = correlated_gaussian(20_000, dim, mi, 6, rotate=True)
    cross = np.corrcoef(x.T, y.T)[:dim, dim:]
    assert np.abs(cross - np.diag(np.diag(cross))).max() > 0.05
