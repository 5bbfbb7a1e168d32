"""Kernel (Gaussian-mixture) bounds on mutual information for noisy representations.

Kolchinsky, A. & Tracey, B. D. (2017). Estimating mixture entropy with pairwise distances.
Entropy 19(7), 361.  As used by Saxe, A. M. et al. (2018). On the information bottleneck theory
of deep learning. ICLR 2018 (code: github.com/artemyk/ibsgd, ``kde.py``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from infoplane.estimators.base import Estimator, is_discrete, register, standard_error
from infoplane.estimators.binning import symbols
from infoplane.units import nats_to_bits

__all__ = ["KDEEstimator", "mixture_log_terms"]

_BLOCK_ENTRIES = 2**22  # entries of one (rows x n) distance block: 32 MiB in float64


def mixture_log_terms(h: np.ndarray, labels: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ``logsumexp_j(-||h_i - h_j||^2 / scale)`` over all j and over j of i's label.

    Parameters
    ----------
    h : float array (n, d)
    labels : int array (n,), symbols ``0..m-1``
    scale : float
        ``2 s^2`` for the KL (upper) bound, ``8 s^2`` for the Bhattacharyya (lower) bound.

    Returns
    -------
    (all_terms, same_label_terms) : two float arrays (n,) in nats.

    Distances are computed in row blocks (memory bounded) as ``|a|^2 + |b|^2 - 2 a.b``, clipped
    at zero; the diagonal is set to exactly zero.
    """
    n = h.shape[0]
    h = h - h.mean(axis=0)  # better conditioned |a|^2 + |b|^2 - 2ab
    sq = np.einsum("ij,ij->i", h, h)
    block = max(1, min(n, _BLOCK_ENTRIES // max(n, 1)))
    lse_all = np.empty(n)
    lse_same = np.empty(n)
    for s in range(0, n, block):
        e = min(n, s + block)
        d2 = sq[s:e, None] + sq[None, :] - 2.0 * (h[s:e] @ h.T)
        np.maximum(d2, 0.0, out=d2)
        rows = np.arange(e - s)
        d2[rows, s + rows] = 0.0
        d2 *= -1.0 / scale
        lse_all[s:e] = logsumexp(d2, axis=1)
        d2[labels[s:e, None] != labels[None, :]] = -np.inf
        lse_same[s:e] = logsumexp(d2, axis=1)
    return lse_all, lse_same


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
    is never below the lower one. Both use the same bound for H(T) and H(T|Z), as Saxe et al. do,
    so they are estimates rather than strict bounds on I.

    Parameters
    ----------
    noise_variance : float, default 1e-3
        ``s^2``, the variance of the added Gaussian noise (in the units of ``h``).
    bound : "upper" or "lower", default "upper"

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
        scale = (2.0 if self.params["bound"] == "upper" else 8.0) * self.params["noise_variance"]
        lse_all, lse_same = mixture_log_terms(h, codes, scale)
        terms = (math.log(n) - lse_all) - (np.log(counts[codes]) - lse_same)
        return nats_to_bits(float(terms.mean())), nats_to_bits(standard_error(terms))
