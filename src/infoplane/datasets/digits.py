"""scikit-learn's bundled 8x8 handwritten digits (UCI optical recognition of digits)."""

from __future__ import annotations

import numpy as np


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits bundled with scikit-learn (no download).

    Returns
    -------
    x : float32 ndarray, shape (1797, 1, 8, 8)
        Intensities 0..16 scaled to [0, 1].
    y : int64 ndarray, shape (1797,)
        Digit labels 0..9.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[:, None, :, :]
    return x, np.asarray(bunch.target, dtype=np.int64)
