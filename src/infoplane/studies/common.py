"""What the studies share: the failure policy for an estimator that refuses an input."""

from __future__ import annotations

import numpy as np

from infoplane.estimators.base import Estimator

#: ``status`` of a row whose estimate was made.
OK = "ok"
#: ``status`` of a row whose estimator refused the input (a ValueError); ``estimate`` is NaN and
#: ``reason`` holds the estimator's message.
REFUSED = "refused"


def estimate_or_refuse(estimator: Estimator, x: np.ndarray, y: np.ndarray) -> dict[str, float | str]:
    """Estimate I(X;Y) in bits with its standard error, or record the estimator's refusal.

    Returns ``{"estimate", "se", "status", "reason"}``: the estimate and standard error (bits;
    ``se`` NaN where the estimator gives none) with status :data:`OK` and an empty reason, or NaN
    for both with status :data:`REFUSED` and the estimator's ``ValueError`` message as the reason
    (e.g. ``wkl`` on raw pixels: too many dimensions for its bias weights). Every study writes a
    refusal this way; only ``ValueError`` (the estimators' "cannot handle this input") is caught.
    """
    try:
        value, se = estimator.estimate_with_error(x, y)
    except ValueError as exc:
        return {"estimate": float("nan"), "se": float("nan"), "status": REFUSED, "reason": str(exc)}
    return {"estimate": float(value), "se": float(se), "status": OK, "reason": ""}
