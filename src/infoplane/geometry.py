"""The geometry of a layer's representations: how clustered they are by class.

Goldfeld, Z. et al. (2019). Estimating Information Flow in Deep Neural Networks. ICML 2019,
arXiv:1810.05728 (abstract): the binning-based I(X;T) of past works measures the clustering of
the hidden representations of samples from the same class, and its "compression" during
training tracks that clustering. :func:`class_clustering` measures that clustering directly
(the silhouette by class), so the geometry table (:data:`infoplane.tables.GEOMETRY_COLUMNS`)
can be read beside the MI table.
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_clustering"]


def class_clustering(t: np.ndarray, labels: np.ndarray, max_samples: int = 1024, seed: int = 0) -> float:
    """Silhouette score of a layer's representations grouped by class label.

    The mean over samples of ``(b - a) / max(a, b)``, ``a`` the mean Euclidean distance of a
    sample to the others of its class and ``b`` the smallest mean distance to another class
    (:func:`sklearn.metrics.silhouette_score`): 1 = tight, well separated class clusters, about
    0 = no clustering by class, negative = samples nearer other classes than their own.

    Parameters
    ----------
    t : array (n, d) or (n,)
        Representations (activations; any unit, the score is scale free).
    labels : array (n,)
        Class label of each row.
    max_samples : int
        At most this many rows are used: a seeded subsample (without replacement) when ``n`` is
        larger (the score costs O(n^2) distances).
    seed : int
        Seed of the subsample (``numpy.random.default_rng``).

    Returns
    -------
    float
        The silhouette score, in [-1, 1]; NaN when it is undefined: fewer than two classes
        among the rows used, or as many classes as rows.

    Raises
    ------
    ValueError
        If ``t`` is not 1-D or 2-D, ``labels`` does not have one entry per row, ``t`` holds
        non-finite values, or ``max_samples`` < 2.
    """
    from sklearn.metrics import silhouette_score

    t = np.asarray(t)
    labels = np.asarray(labels).reshape(-1)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise ValueError(f"class_clustering: t must be (n, d); got shape {t.shape}")
    if len(labels) != len(t):
        raise ValueError(f"class_clustering: {len(labels)} labels for {len(t)} rows of t")
    if isinstance(max_samples, bool) or int(max_samples) < 2:
        raise ValueError(f"class_clustering: max_samples must be an integer >= 2; got {max_samples!r}")
    if not np.isfinite(t).all():
        raise ValueError("class_clustering: t holds non-finite values")
    if len(t) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(t), size=int(max_samples), replace=False))
        t, labels = t[keep], labels[keep]
    n_classes = len(np.unique(labels))
    if not 2 <= n_classes <= len(t) - 1:
        return float("nan")
    return float(silhouette_score(t.astype(np.float64, copy=False), labels, metric="euclidean"))
