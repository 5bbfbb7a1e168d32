"""Datasets: arrays in memory, never downloaded.

``load_dataset(name, root, size)`` returns a :class:`Dataset`; ``train_eval_split`` gives the
seeded train/evaluation split that every network seed of a study shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infoplane.datasets.digits import load_digits
from infoplane.datasets.mnist import load_mnist, read_idx
from infoplane.datasets.tishby import tishby_12bit

DATASETS: tuple[str, ...] = ("tishby_12bit", "mnist", "digits")
#: Datasets whose inputs are all distinct discrete symbols (``Dataset.discrete_inputs``): for
#: them ``analysis.x: auto`` means X = sample ids.
DISCRETE_INPUT_DATASETS: tuple[str, ...] = ("tishby_12bit",)
#: Seed of the permutation that picks a ``size`` subsample (fixed, so a size means one subset).
SUBSAMPLE_SEED = 0

__all__ = [
    "DATASETS",
    "DISCRETE_INPUT_DATASETS",
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "read_idx",
    "tishby_12bit",
    "train_eval_split",
]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset held in memory.

    Attributes
    ----------
    x : float32 ndarray, shape (n, *input_shape)
        (n, 12) for the 12-bit data, (n, 1, 28, 28) for MNIST, (n, 1, 8, 8) for digits.
    y : int64 ndarray, shape (n,)
        Class labels 0..n_classes-1.
    name : str
    n_classes : int
    discrete_inputs : bool
        True when every input is a distinct discrete symbol (12-bit data): I(X;T) can then use the
        sample id as X.
    """

    x: np.ndarray
    y: np.ndarray
    name: str
    n_classes: int
    discrete_inputs: bool

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input."""
        return tuple(int(s) for s in self.x.shape[1:])


def load_dataset(
    name: str, root: str | Path | None = None, size: int | None = None, split: str = "test"
) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : {"tishby_12bit", "mnist", "digits"}
    root : path, optional
        MNIST only: the directory with the IDX files (see :func:`load_mnist`).
    split : {"test", "train"}, default "test"
        MNIST only: which file split to read (``test`` = the 10,000 t10k images, ``train`` =
        the 60,000 training images); the study then splits it into train/eval itself. Other
        datasets must leave it at ``"test"`` (they have one split).
    size : int, optional
        Keep only ``size`` samples: the first ``size`` indices of a permutation drawn with
        ``numpy.random.default_rng(0)``, kept in dataset order (so the same ``size`` always
        means the same subset). None = all samples.

    Raises
    ------
    ValueError
        Unknown name, missing root for MNIST, or a size outside 1..n.
    """
    if name != "mnist" and split != "test":
        raise ValueError(f"split={split!r} for dataset {name!r}: only mnist has file splits (leave split at 'test')")
    if name == "tishby_12bit":
        x, y = tishby_12bit()
        n_classes, discrete = 2, name in DISCRETE_INPUT_DATASETS
    elif name == "digits":
        x, y = load_digits()
        n_classes, discrete = 10, False
    elif name == "mnist":
        if root is None:
            raise ValueError("dataset 'mnist' needs root: the directory holding the MNIST IDX files")
        x, y = load_mnist(root, split=split)
        n_classes, discrete = 10, False
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if size is not None:
        n = len(y)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= n:
            raise ValueError(f"size={size!r} for dataset {name!r}: must be an integer between 1 and {n}")
        keep = np.sort(np.random.default_rng(SUBSAMPLE_SEED).permutation(n)[: int(size)])
        x, y = x[keep], y[keep]
    return Dataset(
        x=np.ascontiguousarray(x, dtype=np.float32),
        y=np.ascontiguousarray(y, dtype=np.int64),
        name=name,
        n_classes=n_classes,
        discrete_inputs=discrete,
    )


def train_eval_split(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into train and evaluation indices.

    Parameters
    ----------
    n : int
        Number of samples.
    train_fraction : float in (0, 1]
        The train split has ``round(train_fraction * n)`` samples (at least 1).
    seed : int
        Seed of ``numpy.random.default_rng``; independent of the network seed.

    Returns
    -------
    idx_train, idx_eval : int64 ndarrays, each sorted ascending; together a partition of range(n).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r}: need at least one sample")
    if not 0.0 < float(train_fraction) <= 1.0:
        raise ValueError(f"train_fraction={train_fraction!r} must be in (0, 1]")
    n_train = max(1, int(round(float(train_fraction) * n)))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_train]).astype(np.int64), np.sort(perm[n_train:]).astype(np.int64)
