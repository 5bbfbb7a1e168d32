"""Distributions with known mutual information, for validating MI estimators.

Every sampler draws from ``numpy.random.default_rng(seed)`` and returns ``(x, y, true_mi_bits)``
where ``true_mi_bits`` is the exact population MI in **bits** (not an estimate from the sample).

=====================  ===============================================  =========================
sampler                dependence                                       true MI
=====================  ===============================================  =========================
correlated_gaussian    ``dim`` independent pairs, correlation ``rho``   closed form
uniform_margins        the same through the normal CDF (uniform [0,1])  closed form (same)
student_t              multivariate Student-t, shared scale variable    closed form (digammas)
discrete_label_gauss.  Gaussian classes with means on a line; int y     1-D quadrature (exact
                                                                        to ~1e-10 bits)
=====================  ===============================================  =========================

The samplers follow the benchmark of Czyż, P., Grabowski, F., Vogt, J. E., Beerenwinkel, N. &
Marx, A. (2023). Beyond normal: on the evaluation of mutual information estimators. NeurIPS 2023
(the ``bmi`` package), where invertible maps of one side (here: rotations and the normal CDF)
leave the MI unchanged while changing what an estimator sees.

:data:`DISTRIBUTIONS` maps the names used in the validation config (``gaussian``,
``uniform_margins``, ``student_t``, ``label_gaussian``) to samplers with the common signature
``(n, dim, mi_bits, seed) -> (x, y, true_mi_bits)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import digamma, gammaln, logsumexp, ndtr

from infoplane.units import bits_to_nats, nats_to_bits

__all__ = [
    "DISTRIBUTIONS",
    "STUDENT_T_DOF",
    "correlated_gaussian",
    "discrete_label_gaussian",
    "gaussian_mi_bits",
    "label_gaussian",
    "label_gaussian_mi_bits",
    "label_gaussian_separation",
    "random_rotation",
    "student_t",
    "student_t_mi_bits",
    "student_t_tail_mi_bits",
    "uniform_margins",
]

STUDENT_T_DOF: int = 5
"""Degrees of freedom of the ``student_t`` entry of :data:`DISTRIBUTIONS` (where feasible)."""

_MAX_DOF = 10_000


# ---------------------------------------------------------------------------------- checks


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {name}={value!r}")
    return int(value)


def _check_mi(mi_bits, name: str = "mi_bits") -> float:
    if isinstance(mi_bits, bool) or not isinstance(mi_bits, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number; got {name}={mi_bits!r}")
    if not math.isfinite(mi_bits) or mi_bits < 0:
        raise ValueError(f"{name} must be finite and >= 0; got {name}={mi_bits!r}")
    return float(mi_bits)


def _check_seed(seed) -> int:
    return _check_int(seed, "seed", 0)


# ---------------------------------------------------------------------------------- helpers


def random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed random orthogonal matrix (dim, dim) drawn from ``rng``.

    QR decomposition of a standard normal matrix with the signs of R's diagonal moved into Q
    (Mezzadri, F. (2007). How to generate random matrices from the classical compact groups.
    Notices AMS 54(5)).
    """
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def gaussian_mi_bits(rho: float | np.ndarray) -> float:
    """MI in bits of Gaussian pairs with correlations ``rho``: ``-1/2 sum log(1 - rho^2)``."""
    rho = np.atleast_1d(np.asarray(rho, dtype=np.float64))
    return float(nats_to_bits(float(-0.5 * np.log1p(-(rho**2)).sum())))


def _pair_rho(mi_bits: float, dim: int) -> float:
    """Per-pair correlation giving total MI ``mi_bits`` over ``dim`` equal pairs."""
    per_pair_nats = bits_to_nats(mi_bits) / dim
    return math.sqrt(-math.expm1(-2.0 * per_pair_nats))


def _correlated_normals(
    n: int, dim: int, rho: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) standard normal (n, dim) with corr(x_i, y_i) = rho and independent pairs."""
    x = rng.standard_normal((n, dim))
    noise = rng.standard_normal((n, dim))
    y = rho * x + math.sqrt(max(0.0, 1.0 - rho * rho)) * noise
    return x, y


def _rotate(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    dim_x, dim_y = x.shape[1], y.shape[1]
    qx = random_rotation(dim_x, rng)
    qy = random_rotation(dim_y, rng)
    return x @ qx.T, y @ qy.T


# ---------------------------------------------------------------------------------- Gaussian


def correlated_gaussian(
    n: int, dim: int, mi_bits: float, seed: int, rotate: bool = True
) -> tuple[np.ndarray, np.ndarray, float]:
    """Jointly Gaussian X, Y with a known MI split equally over ``dim`` coordinate pairs.

    Pair ``i`` is standard bivariate normal with correlation
    ``rho = sqrt(1 - exp(-2 I / dim))`` (``I`` in nats), so each pair carries ``I / dim`` and the
    pairs are independent. With ``rotate`` each side is then multiplied by its own random
    orthogonal matrix (:func:`random_rotation`), so the dependence is spread over all
    coordinates; an invertible linear map of one side leaves the MI unchanged, and each side
    stays standard normal (identity covariance).

    Draw order from ``default_rng(seed)``: x base (n, dim), y noise (n, dim), then the x and y
    rotations, so ``rotate=False`` gives the same samples before rotation.

    Parameters
    ----------
    n : int
        Number of samples (>= 1).
    dim : int
        Dimension of each side (>= 1).
    mi_bits : float
        True MI in bits (>= 0).
    seed : int
    rotate : bool, default True

    Returns
    -------
    x, y : float64 arrays (n, dim)
    true_mi_bits : float
        Equal to ``mi_bits`` (exact).
    """
    n, dim = _check_int(n, "n", 1), _check_int(dim, "dim", 1)
    mi_bits = _check_mi(mi_bits)
    rng = np.random.default_rng(_check_seed(seed))
    rho = _pair_rho(mi_bits, dim)
    x, y = _correlated_normals(n, dim, rho, rng)
    if rotate:
        x, y = _rotate(x, y, rng)
    return x, y, gaussian_mi_bits(np.full(dim, rho))


def uniform_margins(
    n: int, dim: int, mi_bits: float, seed: int, rotate: bool = True
) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`correlated_gaussian` mapped through the standard normal CDF, coordinate-wise.

    Order: correlated pairs -> (optional) rotation of each side -> ``Phi`` per coordinate. The
    rotation comes first, so that every coordinate is still N(0, 1) when ``Phi`` is applied
    and the margins are exactly uniform on [0, 1]. Both maps are bijections of one side, so
    the MI is that of the Gaussian (Czyż et al. 2023, "uniform margins"; the latents of the
    synthetic images of Butakov et al. 2024). Same seed -> same underlying Gaussian draws as
    :func:`correlated_gaussian`.

    Returns
    -------
    x, y : float64 arrays (n, dim) in [0, 1]
    true_mi_bits : float
    """
    x, y, mi = correlated_gaussian(n, dim, mi_bits, seed, rotate=rotate)
    return ndtr(x), ndtr(y), mi


# ---------------------------------------------------------------------------------- Student-t


def student_t_tail_mi_bits(dof: float, dim_x: int, dim_y: int) -> float:
    """The MI (bits) of an uncorrelated multivariate Student-t pair: the tail dependence.

    With ``(X, Y) = Z / sqrt(W / nu)``, ``Z ~ N(0, Sigma)``, ``W ~ chi2(nu)``, the differential
    entropy of a d-dimensional t is ``h = log G(nu/2) - log G((nu+d)/2) + d/2 log(nu pi)
    + 1/2 log det Sigma + (nu+d)/2 [psi((nu+d)/2) - psi(nu/2)]`` and its marginals are t with the
    same ``nu``. ``I = h(X) + h(Y) - h(X, Y)`` then splits into the Gaussian term
    ``-1/2 log(det Sigma / (det Sigma_x det Sigma_y))`` plus

    ``c = log G(nu/2) + log G((nu+dx+dy)/2) - log G((nu+dx)/2) - log G((nu+dy)/2)
    + (nu+dx)/2 psi((nu+dx)/2) + (nu+dy)/2 psi((nu+dy)/2) - (nu+dx+dy)/2 psi((nu+dx+dy)/2)
    - nu/2 psi(nu/2)``  (nats),

    which this function returns in bits (Arellano-Valle, R. B., Contreras-Reyes, J. E. & Genton,
    M. G. (2013). Shannon entropy and mutual information for multivariate skew-elliptical
    distributions. Scand. J. Stat. 40; as used by Czyż et al. 2023). ``c > 0`` for every finite
    ``nu`` and tends to 0 as ``nu -> inf``.
    """
    if not (isinstance(dof, (int, float, np.integer, np.floating)) and dof > 0 and math.isfinite(dof)):
        raise ValueError(f"dof must be a finite number > 0; got dof={dof!r}")
    nu, dx, dy = float(dof), float(dim_x), float(dim_y)
    d = dx + dy
    c = (
        gammaln(nu / 2) + gammaln((nu + d) / 2) - gammaln((nu + dx) / 2) - gammaln((nu + dy) / 2)
        + (nu + dx) / 2 * digamma((nu + dx) / 2)
        + (nu + dy) / 2 * digamma((nu + dy) / 2)
        - (nu + d) / 2 * digamma((nu + d) / 2)
        - nu / 2 * digamma(nu / 2)
    )
    return nats_to_bits(float(c))


def student_t_mi_bits(dof: float, dim: int, rho: float) -> float:
    """True MI (bits) of :func:`student_t` with ``dim`` pairs of correlation ``rho``."""
    return gaussian_mi_bits(np.full(dim, rho)) + student_t_tail_mi_bits(dof, dim, dim)


def student_t(
    n: int,
    dim: int,
    dof: float,
    seed: int,
    mi_bits: float | None = None,
    rotate: bool = True,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Multivariate Student-t pair with a known MI.

    ``(X, Y) = (Z_x, Z_y) / sqrt(W / dof)`` with ``(Z_x, Z_y)`` the correlated Gaussian pairs of
    :func:`correlated_gaussian` (before rotation) and one ``W ~ chi2(dof)`` per sample shared by
    both sides: the shared scale makes X and Y dependent even at ``rho = 0``. The true MI is
    ``-dim/2 log(1 - rho^2) + c(dof, dim, dim)`` (see :func:`student_t_tail_mi_bits`).

    Parameters
    ----------
    n, dim, seed : as in :func:`correlated_gaussian`
    dof : float
        Degrees of freedom (> 0; heavy tails for small values).
    mi_bits : float, optional
        Target MI in bits. ``None``: ``rho = 0`` (only the tail dependence). Otherwise ``rho`` is
        solved in closed form; ValueError when ``mi_bits`` is below the tail MI ``c``.
    rotate : bool, default True
        Rotate each side by a random orthogonal matrix (drawn after the samples).

    Returns
    -------
    x, y : float64 arrays (n, dim)
    true_mi_bits : float
    """
    n, dim = _check_int(n, "n", 1), _check_int(dim, "dim", 1)
    tail = student_t_tail_mi_bits(dof, dim, dim)
    if mi_bits is None:
        rho = 0.0
    else:
        mi_bits = _check_mi(mi_bits)
        if mi_bits < tail:
            raise ValueError(
                f"student_t: mi_bits={mi_bits:g} is below the MI of the uncorrelated t with dof={dof:g} "
                f"and dim={dim} ({tail:.4g} bits); raise dof or mi_bits"
            )
        rho = _pair_rho(mi_bits - tail, dim)
    rng = np.random.default_rng(_check_seed(seed))
    zx, zy = _correlated_normals(n, dim, rho, rng)
    scale = np.sqrt(float(dof) / rng.chisquare(float(dof), size=(n, 1)))
    x, y = zx * scale, zy * scale
    if rotate:
        x, y = _rotate(x, y, rng)
    return x, y, student_t_mi_bits(dof, dim, rho)


def _feasible_dof(dim: int, mi_bits: float) -> float:
    """``STUDENT_T_DOF`` if its tail MI fits under ``mi_bits``, else the smallest integer that does."""
    if student_t_tail_mi_bits(STUDENT_T_DOF, dim, dim) <= mi_bits:
        return float(STUDENT_T_DOF)
    if mi_bits <= 0 or student_t_tail_mi_bits(_MAX_DOF, dim, dim) > mi_bits:
        raise ValueError(
            f"student_t: mi_bits={mi_bits:g} is too small for dim={dim}: even dof={_MAX_DOF} has "
            f"{student_t_tail_mi_bits(_MAX_DOF, dim, dim):.3g} bits of tail dependence"
        )
    lo, hi = STUDENT_T_DOF, _MAX_DOF  # tail(lo) > mi_bits >= tail(hi); the tail MI falls with dof
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if student_t_tail_mi_bits(mid, dim, dim) <= mi_bits:
            hi = mid
        else:
            lo = mid
    return float(hi)


def _student_t_entry(n: int, dim: int, mi_bits: float, seed: int):
    dim = _check_int(dim, "dim", 1)
    mi_bits = _check_mi(mi_bits)
    return student_t(n, dim, _feasible_dof(dim, mi_bits), seed, mi_bits=mi_bits)


# ---------------------------------------------------------------------------------- labels

_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(200)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()  # expectation over N(0, 1)


def _label_means(n_classes: int, separation: float) -> np.ndarray:
    return separation * (np.arange(n_classes) - (n_classes - 1) / 2.0)


def label_gaussian_mi_bits(n_classes: int, separation: float, method: str = "hermite") -> float:
    """True I(X; C) in bits of :func:`discrete_label_gaussian`.

    Only the coordinate along the line of the class means carries information, so
    ``I = (1/K) sum_c E_{z~N(0,1)}[log phi(z) - log((1/K) sum_j phi(z + mu_c - mu_j))]``, a sum
    of 1-D integrals of smooth functions. ``method="hermite"`` (fast): Gauss-Hermite quadrature
    with 200 nodes; ``method="quad"`` (slow reference): :func:`scipy.integrate.quad` on each
    component. The two agree to ~1e-10 bits (tested).
    """
    k = _check_int(n_classes, "n_classes", 1)
    if not (math.isfinite(separation) and separation >= 0):
        raise ValueError(f"separation must be finite and >= 0; got separation={separation!r}")
    if k == 1 or separation == 0:
        return 0.0
    mu = _label_means(k, float(separation))

    def pointwise(z: np.ndarray, c: int) -> np.ndarray:
        # log phi(z) - log mean_j phi(z + mu_c - mu_j); the -z^2/2 - log sqrt(2 pi) cancel partly
        d = z[:, None] + (mu[c] - mu)[None, :]
        return -0.5 * z**2 - (logsumexp(-0.5 * d**2, axis=1) - math.log(k))

    if method == "hermite":
        total = sum(float(_GH_WEIGHTS @ pointwise(_GH_NODES, c)) for c in range((k + 1) // 2))
        # symmetric means: class c and K-1-c contribute equally
        total = 2 * total - (float(_GH_WEIGHTS @ pointwise(_GH_NODES, k // 2)) if k % 2 else 0.0)
    elif method == "quad":
        from scipy.integrate import quad

        def integrand(z: float, c: int) -> float:
            density = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
            return density * float(pointwise(np.array([z]), c)[0])

        total = 0.0
        for c in range(k):
            total += quad(integrand, -40.0, 40.0, args=(c,), limit=400, epsabs=1e-13, epsrel=1e-12, points=[0.0])[0]
    else:
        raise ValueError(f"method must be 'hermite' or 'quad'; got method={method!r}")
    return nats_to_bits(max(0.0, total / k))


def label_gaussian_separation(mi_bits: float, n_classes: int) -> float:
    """The class-mean spacing that gives :func:`discrete_label_gaussian` a true MI of ``mi_bits``.

    Raises ValueError unless ``0 <= mi_bits < log2(n_classes)`` (the MI tends to ``H(C)`` only
    as the separation grows without bound).
    """
    from scipy.optimize import brentq

    mi_bits = _check_mi(mi_bits)
    k = _check_int(n_classes, "n_classes", 2)
    h = math.log2(k)
    if mi_bits >= h - 1e-9:
        raise ValueError(
            f"label_gaussian: mi_bits={mi_bits:g} must be below log2(n_classes)={h:.4g} "
            f"(n_classes={k})"
        )
    if mi_bits == 0:
        return 0.0
    hi = 1.0
    while label_gaussian_mi_bits(k, hi) < mi_bits:
        hi *= 2.0
    return float(brentq(lambda s: label_gaussian_mi_bits(k, s) - mi_bits, 0.0, hi, xtol=1e-12, rtol=1e-12))


def discrete_label_gaussian(
    n: int, dim: int, n_classes: int, separation: float, seed: int, rotate: bool = True
) -> tuple[np.ndarray, np.ndarray, float]:
    """Class labels and a Gaussian mixture: ``X | C=c ~ N(mu_c, I_dim)``, ``C`` uniform.

    The class means are equally spaced, ``separation`` apart, on the first coordinate axis
    (centred at 0); with ``rotate`` the x side is then rotated by a random orthogonal matrix
    (the means then lie on a random line). The true I(X; C) depends only on ``n_classes`` and
    ``separation`` and is computed by 1-D quadrature (:func:`label_gaussian_mi_bits`): exact up
    to ~1e-10 bits, not a Monte-Carlo estimate. It is below ``H(C) = log2(n_classes)``.

    Draw order from ``default_rng(seed)``: labels (n,), noise (n, dim), rotation.

    Returns
    -------
    x : float64 array (n, dim)
    labels : int64 array (n,) in 0..n_classes-1
    true_mi_bits : float
    """
    n, dim = _check_int(n, "n", 1), _check_int(dim, "dim", 1)
    k = _check_int(n_classes, "n_classes", 1)
    mi = label_gaussian_mi_bits(k, separation)
    rng = np.random.default_rng(_check_seed(seed))
    labels = rng.integers(0, k, size=n).astype(np.int64)
    x = rng.standard_normal((n, dim))
    x[:, 0] += _label_means(k, float(separation))[labels]
    if rotate:
        x = x @ random_rotation(dim, rng).T
    return x, labels, mi


def _label_classes(mi_bits: float) -> int:
    """Classes used by the ``label_gaussian`` entry: ``2 ** (floor(mi_bits) + 1)``."""
    return 2 ** (int(math.floor(mi_bits)) + 1)


def label_gaussian(n: int, dim: int, mi_bits: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`discrete_label_gaussian` with a target MI: ``2 ** (floor(mi_bits) + 1)`` classes
    (so ``mi_bits`` lies between half and all of ``H(C)``) and the separation solved by
    :func:`label_gaussian_separation`.

    Returns
    -------
    x : float64 (n, dim); labels : int64 (n,); true_mi_bits : float (equal to ``mi_bits`` to ~1e-10)
    """
    mi_bits = _check_mi(mi_bits)
    k = _label_classes(mi_bits)
    return discrete_label_gaussian(n, dim, k, label_gaussian_separation(mi_bits, k), seed)


# ---------------------------------------------------------------------------------- registry

Sampler = Callable[[int, int, float, int], tuple[np.ndarray, np.ndarray, float]]

DISTRIBUTIONS: dict[str, Sampler] = {
    "gaussian": correlated_gaussian,
    "uniform_margins": uniform_margins,
    "student_t": _student_t_entry,
    "label_gaussian": label_gaussian,
}
"""Name -> sampler ``(n, dim, mi_bits, seed) -> (x, y, true_mi_bits)``.

- ``gaussian``: :func:`correlated_gaussian` (rotated).
- ``uniform_margins``: :func:`uniform_margins` (rotated, then the normal CDF).
- ``student_t``: :func:`student_t` with ``dof = STUDENT_T_DOF`` (5), or the smallest integer
  dof whose tail dependence alone does not exceed ``mi_bits`` (e.g. 25-D sides at 0.5 bits need
  dof = 11); ``rho`` makes up the rest. ValueError when even dof = 10000 is too dependent
  (always for ``mi_bits`` = 0).
- ``label_gaussian``: :func:`label_gaussian`; y is an int64 label array (n,).
"""
