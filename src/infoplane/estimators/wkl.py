"""Weighted Kozachenko-Leonenko MI with a shuffled reference (``wkl``).

Entropy: the weighted Kozachenko-Leonenko estimator of Berrett, T. B., Samworth, R. J. &
Yuan, M. (2019). Efficient multivariate entropy estimation via k-nearest neighbour distances.
Annals of Statistics 47(1), 288-318. For a sample z_1..z_n in d dimensions,

    h_w = (1/n) sum_i sum_{j=1..k} w_j [log(n - 1) - psi(j) + log V_d + d log rho_(j),i]

with rho_(j),i the Euclidean distance from z_i to its j-th nearest other point and V_d the
volume of the unit ball. The weights sum to one and cancel the leading bias terms of the
single-neighbour estimators: ``sum_j w_j Gamma(j + 2l/d) / Gamma(j) = 0`` for
``l = 1..floor(d/4)``; among the weight vectors that do, :func:`wkl_weights` takes the one of
least Euclidean norm (lowest variance for equally noisy terms). Butakov et al. (ICLR 2024) use
this estimator for compressed representations.

Mutual information: ``I(X;Y) = h(P_X x P_Y) - h(P_XY)``, the entropy of the product of the
marginals minus the joint entropy. ``reference="shuffle"`` (default) estimates both terms in
the same (joint) dimension: the joint entropy from the pairs (x_i, y_i), the product entropy from
the re-paired sample (x_i, y_pi(i)) for ``shuffles`` random permutations pi (averaged). The
k-NN bias of an entropy estimate depends on the dimension and the local geometry; estimating
both terms in one dimension, on samples of the same size, cancels the part that does not depend
on the dependence, which ``reference="marginals"`` (the textbook ``h(X) + h(Y) - h(X, Y)``)
leaves in. Measured on the synthetic rectangles of ``config/studies/synthetic_images.yaml``
(autoencoder codes, 4 + 4 dimensions, n = 5000, k = 40, 3 seeds, nats): shuffle -0.02 / 1.03 /
3.02 / 4.97 at true 0 / 1 / 3 / 5; marginals -0.20 / 0.88 / 2.89 / 4.75.

Each entropy term is computed on its own whitened sample with the log-determinant added back
(an exact identity; the k-NN estimate is least biased on isotropic data). A discrete side
(integer labels) gives ``I = h(X) - sum_c p_c h(X | Y = c)``; with ``reference="shuffle"`` the
``h(X)`` term is ``sum_c p_c h(X | Y_pi = c)`` for shuffled labels (class sizes equal, so the
sample-size bias cancels too), and each class uses ``k_c = min(k, n_c - 1)`` neighbours.

Refusals (:class:`~infoplane.estimators.base.EstimatorRefused`, with the reason and ``ksg`` as
the alternative): the support checks shared with ``kl``
(:func:`infoplane.estimators.knn.check_entropy_support`: atoms such as saturated units, a
support of lower dimension than the coordinates such as points on a curve in 2-D or a softmax
output, Cauchy-like tails), and weights too noisy for the dimension (:func:`wkl_weights`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

from infoplane.estimators.base import Estimator, EstimatorRefused, register, standard_error
from infoplane.estimators.binning import symbols
from infoplane.estimators.knn import (
    _check_int,
    _cholesky_whiten,
    _drop_constant_and_jitter,
    _entropy_mi_inputs,
)
from infoplane.units import nats_to_bits

__all__ = ["MAX_WEIGHT_NORM", "WKLEstimator", "wkl_weights"]


MAX_WEIGHT_NORM = 10.0
"""Largest Euclidean norm of the weights :func:`wkl_weights` accepts. The variance of the
estimate grows with it: at k = 40 the norm is 0.5 in 4 dimensions, 2.8 in 8, 4.0 in 10, 24 in
12 and 306 in 16 (measured: correlated Gaussians at n = 5000, 5 + 5 dimensions, spread 0.13 bits
over seeds; 8 + 8 dimensions, 3-4.5 bits)."""


def wkl_weights(d: int, k: int) -> np.ndarray:
    """Weights w_1..w_k (sum 1) of the weighted Kozachenko-Leonenko entropy in d dimensions.

    The minimum-norm vector with ``sum_j w_j = 1`` and ``sum_j w_j Gamma(j + 2l/d) / Gamma(j)
    = 0`` for ``l = 1..floor(d/4)`` (Berrett, Samworth & Yuan 2019). Below 4 dimensions there
    is no bias constraint and the weights are uniform (the mean of the k single-neighbour
    estimates). ValueError when k is too small to meet the constraints (k <= floor(d/4)).
    """
    n_con = d // 4
    if k <= n_con:
        raise ValueError(
            f"wkl: k={k} neighbours cannot cancel the {n_con} bias terms of a {d}-dimensional "
            f"entropy; use k >= {n_con + 1}"
        )
    j = np.arange(1, k + 1, dtype=np.float64)
    rows = [np.ones(k)] + [np.exp(gammaln(j + 2.0 * ell / d) - gammaln(j)) for ell in range(1, n_con + 1)]
    a = np.vstack(rows)
    b = np.zeros(len(rows))
    b[0] = 1.0
    w = np.linalg.lstsq(a, b, rcond=None)[0]  # minimum norm among exact solutions
    norm = float(np.linalg.norm(w))
    if not np.allclose(a @ w, b, atol=1e-8) or norm > MAX_WEIGHT_NORM:
        raise EstimatorRefused(
            f"wkl: the weights for a {d}-dimensional entropy with k={k} have norm {norm:.3g} "
            f"(limit {MAX_WEIGHT_NORM:g}): the estimate would be mostly noise. Compress to fewer "
            "dimensions, raise k, or use method='ksg'"
        )
    return w


def _neighbour_distances(z: np.ndarray, k: int) -> np.ndarray:
    """(n, k) Euclidean distances from each row to its 1st..k-th nearest other row."""
    dist, _ = cKDTree(z, leafsize=32).query(z, k=k + 1, workers=-1)
    return dist[:, 1:]


def _wkl_terms(z: np.ndarray, k: int) -> np.ndarray:
    """Per-sample weighted Kozachenko-Leonenko terms (nats) of z (n, d); mean = entropy.

    Computed on z whitened by its own covariance, with the log-determinant added back.
    """
    n, d = z.shape
    k = min(k, n - 1)
    shift = 0.0
    if n > d + 1:
        white = _cholesky_whiten(z - z.mean(axis=0))
        if white is not None:
            z, chol = white
            shift = float(np.log(np.diag(chol)).sum())
    w = wkl_weights(d, k)
    r = _neighbour_distances(z, k)
    if np.any(r <= 0):
        raise ValueError(
            f"wkl: {int(np.sum(r[:, 0] <= 0))} samples have an exact duplicate; "
            "the nearest-neighbour distances are 0 and the entropy is undefined"
        )
    j = np.arange(1, k + 1)
    log_unit_ball = 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1.0)
    per_j = math.log(n - 1) - digamma(j)[None, :] + log_unit_ball + d * np.log(r)
    return per_j @ w + shift


@register
class WKLEstimator(Estimator):
    """Mutual information from weighted Kozachenko-Leonenko entropies (see the module docstring).

    Parameters
    ----------
    k : int, default 40
        Neighbours per entropy term (weights over the 1st..k-th; more neighbours, less bias from
        the weighting's higher-order terms, at a little more time).
    reference : "shuffle" | "marginals", default "shuffle"
        How the product-of-marginals entropy is estimated (module docstring).
    shuffles : int, default 2
        Random re-pairings averaged for ``reference="shuffle"``.
    seed : int, default 0
        Seeds the permutations and the ``1e-10 * std * N(0, 1)`` tie-breaking noise.

    The standard error is that of the mean of the per-sample differences of the two entropy
    terms (approximate: the k-NN terms are weakly dependent).
    """

    name = "wkl"
    defaults = {"k": 40, "reference": "shuffle", "shuffles": 2, "seed": 0}

    def _validate_params(self) -> None:
        _check_int(self, "k", 1)
        _check_int(self, "shuffles", 1)
        _check_int(self, "seed", 0)
        if self.params["reference"] not in ("shuffle", "marginals"):
            raise ValueError(
                f"wkl: reference must be 'shuffle' or 'marginals'; got reference={self.params['reference']!r}"
            )

    def _estimate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        kinds = _entropy_mi_inputs("wkl", self.params["k"], x, y)
        if kinds is None:
            return 0.0, 0.0
        dx, dy = kinds
        rng = np.random.default_rng(self.params["seed"])
        if dx or dy:
            c, lab = (y, x) if dx else (x, y)
            terms = self._label_terms(_drop_constant_and_jitter(c, rng), lab, rng)
        else:
            x, y = _drop_constant_and_jitter(x, rng), _drop_constant_and_jitter(y, rng)
            terms = self._continuous_terms(x, y, rng)
        return nats_to_bits(float(terms.mean())), nats_to_bits(standard_error(terms))

    def _continuous_terms(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = self.params["k"]
        joint = _wkl_terms(np.hstack([x, y]), k)
        if self.params["reference"] == "marginals":
            return _wkl_terms(x, k) + _wkl_terms(y, k) - joint
        product = np.zeros(len(x))
        for _ in range(self.params["shuffles"]):
            product += _wkl_terms(np.hstack([x, y[rng.permutation(len(y))]]), k)
        return product / self.params["shuffles"] - joint

    def _label_terms(self, c: np.ndarray, lab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = self.params["k"]
        codes, m = symbols(lab)
        counts = np.bincount(codes, minlength=m)
        small = np.flatnonzero((counts > 0) & (counts <= c.shape[1] // 4 + 1))
        if len(small):
            raise EstimatorRefused(
                f"wkl: every class needs more than {c.shape[1] // 4 + 1} samples for a "
                f"{c.shape[1]}-dimensional code; {len(small)} classes have fewer"
            )

        def conditional(labels: np.ndarray) -> np.ndarray:
            out = np.empty(len(c))
            for code in np.flatnonzero(counts):
                idx = np.flatnonzero(labels == code)
                out[idx] = _wkl_terms(c[idx], k)
            return out

        within = conditional(codes)
        if self.params["reference"] == "marginals":
            return _wkl_terms(c, k) - within
        product = np.zeros(len(c))
        for _ in range(self.params["shuffles"]):
            product += conditional(codes[rng.permutation(len(codes))])
        return product / self.params["shuffles"] - within
