"""Mutual-information estimators: one interface, a registry by name, results in bits.

Estimators (``available()``): ``binning``, ``adaptive_binning`` (plug-in histograms),
``kde`` (Kolchinsky-Tracey pairwise-distance bounds), ``ksg`` (Kraskov et al. k-NN),
``kl`` (Kozachenko-Leonenko entropies), ``wkl`` (weighted Kozachenko-Leonenko), ``sp``
(Goldfeld et al.'s sample-propagation estimate for a noisy layer), and ``mine`` / ``infonce``
(neural, in :mod:`infoplane.estimators.neural`).

>>> import numpy as np
>>> from infoplane.estimators import mutual_information
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=2000); y = x + rng.normal(size=2000)
>>> round(mutual_information(x, y, method="ksg"), 1)   # true value 0.5 bits
0.5
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from infoplane.estimators import binning, kde, knn, sp, wkl  # noqa: F401  (registers the estimators)
from infoplane.estimators.base import Estimator, available, get_estimator, register
from infoplane.estimators.knn import entropy_kl

if importlib.util.find_spec("infoplane.estimators.neural") is not None:
    from infoplane.estimators import neural  # noqa: F401  (registers mine, infonce)

__all__ = [
    "Estimator",
    "available",
    "entropy_kl",
    "get_estimator",
    "mutual_information",
    "register",
]


def mutual_information(x: np.ndarray, y: np.ndarray, method: str = "ksg", **params: Any) -> float:
    """Estimate I(X;Y) in bits from paired samples.

    Parameters
    ----------
    x, y : array (n,) or (n, d)
        Paired samples. Integer arrays are discrete symbols (labels, sample ids), never binned
        or jittered; float arrays are continuous.
    method : str
        A name from :func:`available`.
    **params
        The estimator's parameters (validated; an unknown name raises ValueError).

    Returns
    -------
    float
        The estimate in bits.
    """
    return get_estimator(method, **params).estimate(x, y)
