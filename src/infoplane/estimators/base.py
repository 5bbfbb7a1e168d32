"""The estimator interface, the registry by name, and input validation shared by all estimators.

Every estimator is a subclass of :class:`Estimator`. Its parameters are declared in the class
attribute ``defaults`` and validated when it is constructed, so a config entry such as
``{name: ksg, k: 5}`` fails before any work starts when a key or value is wrong.
"""

from __future__ import annotations

import difflib
import math
import warnings
from typing import Any, ClassVar

import numpy as np

_REGISTRY: dict[str, type[Estimator]] = {}


def register(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: add an estimator class to the registry under ``cls.name``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__qualname__} has no `name`")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of all registered estimators, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # Importing the package registers the built-in estimators.
    import infoplane.estimators  # noqa: F401


def suggest(name: str, choices: list[str]) -> str:
    """Return ' (did you mean "x"?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def get_estimator(name: str, **params: Any) -> Estimator:
    """Construct the estimator registered as ``name`` with validated ``params``.

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the available names and the closest
        one) or a parameter is unknown or invalid.
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown estimator {name!r}{suggest(str(name), list(_REGISTRY))}; "
            f"available: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](**params)


class EstimatorRefused(ValueError):
    """Raised by an estimator that cannot give a trustworthy estimate on this input.

    The message says what is wrong with the input and which estimator to use instead. A
    subclass of ValueError, so ``except ValueError`` still catches it; a caller that writes an
    MI table can catch this class to record ``status="refused"`` with the message as the reason
    instead of aborting.
    """


class UnreliableEstimateWarning(UserWarning):
    """Warned when an estimate is negative by more than twice its own standard error.

    MI is never negative: such a value means the estimator's bias dominates. A caller that
    writes an MI table can record the warning (``warnings.catch_warnings(record=True)``) as a
    warning status with the message as the reason.
    """


#: An estimate below ``-NEGATIVE_SE_FACTOR * standard_error`` is flagged with
#: :class:`UnreliableEstimateWarning`.
NEGATIVE_SE_FACTOR = 2.0
#: Float rounding of an MI made of sums of p log p (bits): smaller negatives are not flagged.
ROUNDING_BITS = 1e-12


class Estimator:
    """Base class of all MI estimators.

    Subclasses set ``name`` and ``defaults`` (parameter name -> default value), override
    :meth:`_validate_params` to check values, and implement :meth:`_estimate` returning
    ``(mi_bits, standard_error_bits)``. ``accepts_sample_ids`` declares whether the estimator can
    take X = sample ids (every value of a discrete side distinct, as in I(X;T) with
    ``analysis.x: ids``): plug-in estimators can; k-NN and neural ones need repeated symbols or
    vectors (:func:`accepts_sample_ids`, checked when a config is validated).
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    accepts_sample_ids: ClassVar[bool] = False
    #: Whether one (layer, epoch) estimate takes well under a millisecond (binning): then an
    #: estimation job is cheapest serial, since Dask workers cost seconds to start
    #: (:func:`infoplane.cluster.parallel_threads`).
    cheap: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        unknown = [p for p in params if p not in self.defaults]
        if unknown:
            p = unknown[0]
            raise ValueError(
                f"estimator {self.name!r} has no parameter {p!r}{suggest(p, list(self.defaults))}; "
                f"its parameters are: {', '.join(self.defaults) or '(none)'}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._validate_params()

    def _validate_params(self) -> None:
        """Check ``self.params``; raise ValueError naming the parameter. Override."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def estimate(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mutual information I(X;Y) in bits between paired samples ``x`` (n, dx) and ``y`` (n, dy)."""
        return self.estimate_with_error(x, y)[0]

    def estimate_with_error(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """``(I(X;Y), standard error)``, both in bits; the error is NaN where not available."""
        xa, ya = check_pair(x, y)
        value, err = self._estimate(xa, ya)
        value, err = float(value), float(err)
        # below zero by more than float rounding (a plug-in difference of entropies of a constant
        # layer can come out at -6e-16) and by more than the stated error
        if value < -ROUNDING_BITS and (math.isnan(err) or value < -NEGATIVE_SE_FACTOR * err):
            warnings.warn(
                f"{self.name}: negative MI {value:.3g} bits, more than {NEGATIVE_SE_FACTOR:g} standard "
                f"errors ({err:.2g} bits) below 0: the estimator's bias dominates on this input "
                f"({xa.shape[1]} + {ya.shape[1]} dimensions, n = {xa.shape[0]})",
                UnreliableEstimateWarning,
                stacklevel=2,
            )
        return value, err

    def _estimate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        raise NotImplementedError


def _registered_class(name: str) -> type[Estimator]:
    """The estimator class registered as ``name``; ValueError (with the closest name) otherwise."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown estimator {name!r}{suggest(str(name), list(_REGISTRY))}")
    return _REGISTRY[name]


def accepts_sample_ids(name: str) -> bool:
    """Whether the estimator registered as ``name`` can take X = sample ids (see
    :class:`Estimator`). ValueError for an unknown name."""
    return bool(_registered_class(name).accepts_sample_ids)


def is_cheap(name: str) -> bool:
    """Whether the estimator registered as ``name`` is cheap per call (see :class:`Estimator`)."""
    return bool(_registered_class(name).cheap)


def is_discrete(a: np.ndarray) -> bool:
    """Integer and boolean arrays are discrete symbols; floats are continuous."""
    return a.dtype.kind in "iub"


def as_2d(a: Any, name: str) -> np.ndarray:
    """Return ``a`` as a 2-D array (n, d); 1-D input becomes (n, 1). ValueError on other ndim."""
    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (n,) or 2-D (n, d); got an array of shape {arr.shape}")
    if arr.dtype.kind not in "iubf":
        raise ValueError(f"{name} must be a numeric array; got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        # one pass without a temporary: a finite sum means every value is finite; a non-finite
        # sum (NaN, inf, or finite values that overflow when added) gets the exact count
        with np.errstate(all="ignore"):
            total = float(arr.sum())
        if not math.isfinite(total):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            if bad:
                raise ValueError(f"{name} contains {bad} non-finite values (NaN or inf)")
    return arr


def check_pair(x: Any, y: Any, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of sample arrays and return them as 2-D arrays.

    Raises ValueError on different sample counts, wrong ndim, non-finite values or fewer than
    ``min_samples`` samples.
    """
    xa, ya = as_2d(x, "x"), as_2d(y, "y")
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(
            f"x and y must have the same number of samples; got x with {xa.shape[0]} and y with {ya.shape[0]}"
        )
    if xa.shape[0] < min_samples:
        raise ValueError(f"need at least {min_samples} samples; got {xa.shape[0]}")
    return xa, ya


def standard_error(terms: np.ndarray) -> float:
    """Standard error of the mean of per-sample terms (same unit as the terms)."""
    n = len(terms)
    return float(np.std(terms, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
