"""MNIST from its original IDX files (LeCun, Cortes & Burges), read without torchvision.

The files are looked up where torchvision's ``MNIST(root)`` keeps them, ``<root>/MNIST/raw/``,
and then in ``<root>`` itself; each may be gzip-compressed (``.gz``) or raw. Nothing is ever
downloaded.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

#: IDX magic numbers: unsigned bytes with 3 dims (images) / 1 dim (labels).
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read one unsigned-byte IDX file (raw or ``.gz``).

    Parameters
    ----------
    path : path
        The file.
    magic : int
        Expected magic number (2051 for image files, 2049 for label files).

    Returns
    -------
    uint8 ndarray with the shape stored in the header.

    Raises
    ------
    ValueError
        Naming the file, when it is not gzip-readable, has another magic number, or is truncated.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read the IDX file ({exc}); the file is damaged, re-copy it") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: not an MNIST IDX file of the expected kind (magic number {found}, expected {magic})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, expected at least {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(
            f"{path}: truncated or oversized IDX file: header says shape {shape} ({expected} bytes), "
            f"file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(directories: list[Path], stem: str) -> Path | None:
    for d in directories:
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    return None


def load_mnist(root: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split from IDX files under ``root``.

    Parameters
    ----------
    root : path
        Directory containing ``MNIST/raw/<files>`` (torchvision's layout) or the files themselves.
    split : {"test", "train"}
        ``test`` = the 10,000 t10k images, ``train`` = the 60,000 training images.

    Returns
    -------
    x : float32 ndarray, shape (n, 1, 28, 28)
        Pixel intensities scaled to [0, 1].
    y : int64 ndarray, shape (n,)
        Digit labels 0..9.

    Raises
    ------
    FileNotFoundError
        When the files are in neither directory (the message says how to get them).
    ValueError
        On an unknown split, or a damaged/truncated file (naming it).
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split={split!r} is not an MNIST split; choose one of {', '.join(SPLIT_FILES)}")
    root = Path(root)
    dirs = [root / "MNIST" / "raw", root]
    img_stem, lab_stem = SPLIT_FILES[split]
    img_path, lab_path = _find(dirs, img_stem), _find(dirs, lab_stem)
    if img_path is None or lab_path is None:
        missing = [s for s, p in ((img_stem, img_path), (lab_stem, lab_path)) if p is None]
        raise FileNotFoundError(
            f"MNIST {split} files not found in {dirs[0]} or {dirs[1]}: "
            f"missing {', '.join(m + '[.gz]' for m in missing)}. "
            f"Get them on a machine with internet with `torchvision.datasets.MNIST({str(root)!r}, download=True"
            f"{', train=False' if split == 'test' else ''})` and copy the directory here, or copy the original IDX "
            f"files (gz or raw) into {dirs[0]}"
        )
    images = read_idx(img_path, IMAGES_MAGIC)
    labels = read_idx(lab_path, LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{img_path} has {images.shape[0]} images but {lab_path} has {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{lab_path}: label {int(labels.max())} is not a digit 0..9")
    x = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return x, labels.astype(np.int64)
