"""Render low-dimensional latent vectors as images (synthetic tests of Butakov et al., ICLR 2024).

The images are injective (almost surely) functions of their latents, so the mutual information
between two image sets equals the MI between the latents that made them, which is known in
closed form when the latents come from :func:`infoplane.synthetic.uniform_margins`.

Conventions: an image is indexed ``[row, column]``; the row is the vertical coordinate ``v``
(latent y) and the column the horizontal coordinate ``u`` (latent x). Latent coordinates live
in [0, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_blobs", "ordered_segments", "rectangles"]

BLOB_SHARPNESS = 10.0
"""The 10 in exp(-10 ((u - mu_x)^2 + (v - mu_y)^2))."""


def _check_latent(latent: np.ndarray, width: int, name: str) -> np.ndarray:
    arr = np.asarray(latent, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"{name} latent must have shape (n, {width}); got {np.shape(latent)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} latent contains non-finite values")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(
            f"{name} latent must lie in [0, 1]; got values in [{arr.min():.4g}, {arr.max():.4g}]"
        )
    return arr


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or int(size) < 2:
        raise ValueError(f"size must be an integer >= 2; got {size!r}")
    return int(size)


def gaussian_blobs(latent: np.ndarray, size: int = 16) -> np.ndarray:
    """Images of a Gaussian blob centred at each latent position.

    Pixel ``[i, j]`` has value ``exp(-10 ((u_j - mu_x)^2 + (v_i - mu_y)^2))`` on the grid
    ``u_j = j / (size - 1)``, ``v_i = i / (size - 1)`` (so the corner pixels sit at 0 and 1).

    Parameters
    ----------
    latent : array (n, 2) in [0, 1]^2
        Blob centres ``(mu_x, mu_y)``.
    size : int
        Image height and width in pixels (16 or 32 in the study; any size >= 2 works).

    Returns
    -------
    array (n, size, size), float32, values in (0, 1]
    """
    lat = _check_latent(latent, 2, "blob")
    size = _check_size(size)
    grid = np.linspace(0.0, 1.0, size)
    gx = np.exp(-BLOB_SHARPNESS * (grid[None, :] - lat[:, 0:1]) ** 2)  # (n, size) over columns
    gy = np.exp(-BLOB_SHARPNESS * (grid[None, :] - lat[:, 1:2]) ** 2)  # (n, size) over rows
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def _coverage(lo: np.ndarray, hi: np.ndarray, size: int) -> np.ndarray:
    """Exact length of [lo, hi] (pixel units) inside each pixel [j, j+1]; (n,) x2 -> (n, size)."""
    j = np.arange(size, dtype=np.float64)[None, :]
    return np.clip(np.minimum(hi[:, None], j + 1.0) - np.maximum(lo[:, None], j), 0.0, 1.0)


def rectangles(latent: np.ndarray, size: int = 16) -> np.ndarray:
    """Anti-aliased images of axis-aligned rectangles.

    The rectangle is ``[x0, x1] x [y0, y1]`` with ``(x0, x1) = sort(latent[:, 0:2])`` and
    ``(y0, y1) = sort(latent[:, 2:4])`` in image units ([0, 1] spans the whole image). Each
    pixel's value is the fraction of its area that the rectangle covers, computed exactly as
    the product of the 1-D coverages along both axes, so an image sums to
    ``(x1 - x0) (y1 - y0) size^2``.

    Sorting loses the order of each pair; to keep the image an injective function of a latent
    drawn uniformly from [0, 1]^4, map it through :func:`ordered_segments` first.

    Parameters
    ----------
    latent : array (n, 4) in [0, 1]^4
        ``(x_a, x_b, y_a, y_b)``.
    size : int
        Image height and width in pixels.

    Returns
    -------
    array (n, size, size), float32, values in [0, 1]
    """
    lat = _check_latent(latent, 4, "rectangle")
    size = _check_size(size)
    xs = np.sort(lat[:, 0:2], axis=1) * size
    ys = np.sort(lat[:, 2:4], axis=1) * size
    cx = _coverage(xs[:, 0], xs[:, 1], size)
    cy = _coverage(ys[:, 0], ys[:, 1], size)
    return (cy[:, :, None] * cx[:, None, :]).astype(np.float32)


def ordered_segments(u: np.ndarray, min_length: float = 0.0) -> np.ndarray:
    """Map uniform pairs bijectively to ordered segments, as Butakov et al. do for rectangles.

    Each consecutive column pair ``(a, b)`` of ``u`` becomes ``(s, e)`` with
    ``s = (1 - m)(1 - sqrt(1 - a))`` and ``e = s + m + b (1 - s - m)``: uniform on the set
    ``{0 <= s, s + m <= e <= 1}``. The map is a smooth bijection of the open unit square, so MI
    with any other variable is unchanged.

    Parameters
    ----------
    u : array (n, 2k) in [0, 1]
    min_length : float in [0, 1)
        ``m``, the shortest segment. With ``m >= 2 / size`` every rectangle covers at least one
        full pixel per axis, which makes :func:`rectangles` injective (thinner rectangles lose
        their sub-pixel position).

    Returns
    -------
    array (n, 2k) float64, each pair ordered.
    """
    arr = np.asarray(u, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] % 2:
        raise ValueError(f"u must have shape (n, 2k); got {np.shape(u)}")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError("u must lie in [0, 1]")
    m = float(min_length)
    if not 0.0 <= m < 1.0:
        raise ValueError(f"min_length must be in [0, 1); got {min_length!r}")
    a, b = arr[:, 0::2], arr[:, 1::2]
    s = (1.0 - m) * (1.0 - np.sqrt(1.0 - a))
    e = np.minimum(s + m + b * (1.0 - s - m), 1.0)
    out = np.empty_like(arr)
    out[:, 0::2], out[:, 1::2] = s, e
    return out
