"""Plug-in (histogram) estimators: binning on a fixed range or with a fixed width, and adaptive binning.

Each row of a discretised array is one symbol. A float layer is binned on a range by a compiled
kernel (:func:`infoplane.estimators._kernels.bin_digits`) in one vectorised pass over its values:
the bin is guessed arithmetically in the input's dtype (float64 for ranges too narrow for
float32 rounding); a proven rounding bound makes a guess farther than a small band from every
edge exact, and keeps the others within one bin, corrected by one comparison with the edges on
each side, so every bin is exactly that of ``np.digitize``; the bins of a row are folded into one
``int64`` code (mixed radix ``bins``; layers too wide for one int64 get one code per group of
columns, re-numbered densely whenever the next group would overflow). The fixed-width scheme
(``width``, no bounds) bins by ``np.floor(v / width)`` and codes rows as integer symbols. Entropies count the codes
(``np.bincount`` for small ranges, else runs of the sorted codes): there is no Python loop over
samples and no ``np.unique(axis=0)`` over rows. :class:`InformationPlane` gives I(X;T) and
I(T;Y) of a layer from one binning and one sort of its codes joined with the labels. Integer arrays
(labels, sample ids) are used as symbols directly, never binned. The column-by-column numpy path
(:func:`_binned_codes_columns`) is the reference the kernel is tested against, and serves ranges
the kernel's bound does not cover.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from infoplane.estimators import _kernels
from infoplane.estimators.base import Estimator, EstimatorRefused, as_2d, check_pair, is_discrete, register
from infoplane.units import nats_to_bits

__all__ = [
    "AdaptiveBinningEstimator",
    "BinningEstimator",
    "InformationPlane",
    "adaptive_bins",
    "adaptive_edges",
    "binned_codes",
    "digitize",
    "discrete_mi",
    "entropy_of_symbols",
    "symbols",
    "width_bins",
    "width_codes",
]

_INT64_LIMIT = 2**62
_EXACT_LIMIT = 2**53  # integers below it are exact in float64
_FLOAT64 = np.dtype(np.float64)


def _compact(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary int64 codes to 0..m-1; return (compact codes, m)."""
    uniq, inv = np.unique(codes, return_inverse=True)
    return inv.reshape(-1).astype(np.int64, copy=False), len(uniq)


def _edge_table(bins: int, lo: float, hi: float, dtype: np.dtype) -> np.ndarray:
    """Padded edges ``E[0..bins]`` (``E[0] = -inf``, ``E[bins] = NaN``, interior edges those of
    ``np.linspace(lo, hi, bins + 1)``) in ``dtype``, such that for every value ``v`` of that
    dtype ``v >= E[i]`` exactly when ``v >= edge_i`` in float64 (each interior edge is rounded
    up to the nearest representable value). No value compares below ``E[0]`` or at or above
    ``E[bins]`` (not even +-inf), so a one-step fix-up never leaves the bins."""
    with np.errstate(over="ignore"):
        finite_width = np.isfinite(hi - lo)
    # A range wider than the float64 maximum (e.g. +-1e308): build the edges at half scale.
    e = np.linspace(lo, hi, bins + 1) if finite_width else 2 * np.linspace(lo / 2, hi / 2, bins + 1)
    e[0], e[-1] = -np.inf, np.nan
    if dtype == np.float64:
        return e
    with np.errstate(over="ignore"):
        ed = e.astype(dtype)
    low = ed.astype(np.float64) < e
    ed[low] = np.nextafter(ed[low], np.array(np.inf, dtype=dtype))
    return ed


def _bin_column(col: np.ndarray, bins: int, lo: float, hi: float, edges: np.ndarray) -> np.ndarray:
    """Bin indices (int64) of a 1-D float32/float64 column; see :func:`digitize`.

    Call inside ``np.errstate(over="ignore", invalid="ignore")``: values far outside the range
    may overflow the arithmetic guess, which is then clipped to an end bin (correctly).
    """
    width = hi - lo  # Python floats: inf when the range is wider than the float maximum
    if not (math.isfinite(width) and width * 1e-300 > 0 and bins / width < 1e300):
        # no usable arithmetic guess (an overflowing or subnormal width): binary search
        return np.searchsorted(edges[1:-1], col, side="right").astype(np.int64)
    t = col - lo
    t *= bins / width
    np.clip(t, 0, bins - 1, out=t)
    idx = t.astype(np.int64)
    # The arithmetic guess is at most one bin off near an edge: exact fix-up against the edges.
    idx -= col < edges.take(idx)
    idx += col >= edges.take(idx + 1)
    return idx


def _float_view(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``a`` itself when it is float32/float64 and the range fits that dtype, else float64."""
    if a.dtype == np.float64:
        return a
    if a.dtype == np.float32:
        with np.errstate(over="ignore"):
            if np.isfinite(np.float32(hi) - np.float32(lo)):
                return a
    return a.astype(np.float64)


def _near_edge_band(bins: int, lo: float, hi: float, dtype: np.dtype = _FLOAT64) -> float:
    """Half-width, in bins, of the band around each interior edge inside which the arithmetic
    bin ``floor((v - lo) * bins / (hi - lo))`` computed in ``dtype`` may differ from the
    comparison with the float64 edge.

    With unit roundoff ``u = eps / 2``: rounding the value, ``lo`` and ``bins / (hi - lo)`` to
    ``dtype``, the subtraction and the product move the scaled position of a value inside the
    range by at most ``u * bins * (3 + 2 max(|lo|, |hi|) / (hi - lo))`` (values far outside
    the range are clipped to an end bin and never near an interior edge), and
    ``np.linspace``'s float64 edges are within a few float64 ulps of ``max(|lo|, |hi|)``;
    ``2 eps bins (1 + max/width)`` bounds the sum, and the band is 4 times that.
    """
    return 8 * float(np.finfo(dtype).eps) * bins * (max(abs(lo), abs(hi)) / (hi - lo) + 1.0)


@functools.lru_cache(maxsize=256)
def _compute_dtype(bins: int, lo: float, hi: float, dtype: np.dtype) -> np.dtype | None:
    """The dtype the arithmetic bin guess of ``dtype`` input is computed in by the compiled
    kernel: the input's own (no conversion) when its rounding band is far below one bin, else
    float64 when that one is, else None (use the column path; also for input other than
    float32/float64, a range whose width overflows or is subnormal, and 2**31 bins or more,
    since the kernel truncates guesses to int32)."""
    width = hi - lo
    if dtype not in (np.float32, np.float64) or not (math.isfinite(width) and width * 1e-300 > 0) or bins >= 2**31:
        return None
    for dt in dict.fromkeys((np.dtype(dtype), np.dtype(np.float64))):
        if _near_edge_band(bins, lo, hi, dt) < 0.01:
            return dt
    return None


@functools.lru_cache(maxsize=256)
def _guess_band(bins: int, lo: float, hi: float, dtype: np.dtype) -> float:
    """:func:`_near_edge_band` of a guess computed in ``dtype``, rounded up to a value of that
    dtype (the kernel compares in it)."""
    band = _near_edge_band(bins, lo, hi, dtype)
    if dtype == np.float32:
        b32 = np.float32(band)
        if float(b32) < band:
            b32 = np.nextafter(b32, np.float32(np.inf))
        return float(b32)
    return band


@functools.lru_cache(maxsize=64)
def _cached_edge_table(bins: int, lo: float, hi: float, dtype: np.dtype) -> np.ndarray:
    """:func:`_edge_table`, cached and read-only."""
    e = _edge_table(bins, lo, hi, dtype)
    e.flags.writeable = False
    return e


@functools.lru_cache(maxsize=256)
def _group_bounds(d: int, bins: int, n_bits: int) -> np.ndarray:
    """Column boundaries (G + 1,) of the column groups of a layer of d units and fewer than
    ``2**n_bits`` rows: one group when ``bins**d`` codes fit below ``_EXACT_LIMIT`` (the fold of
    a group's bins into its code is a float64 product, exact below it), else groups small enough
    for that and for a group code times the number of rows (the most distinct codes left after
    compaction) to fit below ``_INT64_LIMIT``."""
    if bins <= 1 or bins**d < _EXACT_LIMIT:
        b = np.array([0, d], dtype=np.int64)
    else:
        per_group = 1
        while bins ** (per_group + 1) < _EXACT_LIMIT and bins ** (per_group + 1) << n_bits < _INT64_LIMIT:
            per_group += 1
        b = np.array([*range(0, d, per_group), d], dtype=np.int64)
    b.flags.writeable = False
    return b


@functools.lru_cache(maxsize=256)
def _kernel_plan(
    bins: int, lo: float, hi: float, dtype: np.dtype, compute: np.dtype, d: int, n_bits: int
) -> tuple[np.ndarray, float, float, bool, tuple[tuple[int, int, np.ndarray, int], ...]]:
    """What :func:`_binned_codes_kernel` needs for ``dtype`` input of ``d`` columns and fewer
    than ``2**n_bits`` rows, the guess computed in ``compute``: (edges, scale, band, compute32,
    per column group ``(c0, c1, bins**(c1 - 1 - c) for c in c0..c1 as float64, bins**(c1 -
    c0))``). Cached: a study bins thousands of layers of a few shapes."""
    bounds = _group_bounds(d, bins, n_bits).tolist()
    groups = []
    for c0, c1 in zip(bounds[:-1], bounds[1:], strict=True):
        mult = np.array([float(bins ** (c1 - 1 - c)) for c in range(c0, c1)])
        mult.flags.writeable = False
        groups.append((c0, c1, mult, bins ** (c1 - c0)))
    edges = _cached_edge_table(bins, lo, hi, dtype)  # compared in the input's own dtype, exactly
    return edges, bins / (hi - lo), _guess_band(bins, lo, hi, compute), compute == np.float32, tuple(groups)


def _binned_codes_compiled(
    a: np.ndarray, bins: int, lo: float, hi: float, dtype: np.dtype
) -> tuple[np.ndarray, int]:
    """:func:`binned_codes` by the compiled kernel (the arithmetic guess in ``dtype``, from
    :func:`_compute_dtype`)."""
    code, top, _ = _binned_codes_kernel(a, bins, lo, hi, dtype)
    return code, top


def _binned_codes_kernel(
    a: np.ndarray, bins: int, lo: float, hi: float, dtype: np.dtype
) -> tuple[np.ndarray, int, int]:
    """:func:`_binned_codes_compiled` and the number of non-finite values of ``a``: the bins by
    :func:`infoplane.estimators._kernels.bin_digits`, each column group's bins folded into its
    code by one float64 matrix-vector product with the powers of ``bins`` (integers below
    ``2**53``: every partial sum is exact, in any order)."""
    n, d = a.shape
    edges, scale, band, compute32, groups = _kernel_plan(bins, lo, hi, a.dtype, dtype, d, max(n, 1).bit_length())
    digits = np.empty((n, d))
    bad = _kernels.bin_digits(np.ascontiguousarray(a), edges, lo, scale, band, compute32, digits)
    (c0, c1, mult, top), *rest = groups
    code = (digits @ mult if c1 - c0 == d else digits[:, c0:c1] @ mult).astype(np.int64)
    for c0, c1, mult, step in rest:
        if top * step >= _INT64_LIMIT:
            code, top = _compact(code)
        code = code * step + (digits[:, c0:c1] @ mult).astype(np.int64)
        top *= step
    return code, top, bad


def binned_codes(a: np.ndarray, bins: int, value_range: tuple[float, float]) -> tuple[np.ndarray, int]:
    """One int64 code per row of a float array binned as :func:`digitize` does.

    Parameters
    ----------
    a : float array (n, d) or (n,)
    bins : int
    value_range : (lo, hi)

    Returns
    -------
    codes : int64 array (n,)
        Equal binned rows get equal codes (codes are not dense: use them for counting).
    top : int
        An upper bound: every code is in ``0..top-1``.
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[:, None]
    if a.size:
        dtype = _compute_dtype(bins, lo, hi, a.dtype)
        if dtype is not None:
            return _binned_codes_compiled(a, bins, lo, hi, dtype)
    return _binned_codes_columns(a, bins, lo, hi)


def _width_quotients(a: np.ndarray, width: float) -> tuple[np.ndarray, float, float]:
    """``np.floor(a / width)`` in ``a``'s own float dtype (integer input in float64), and its
    min and max; raises :class:`~infoplane.estimators.base.EstimatorRefused` when a bin index
    reaches ``2**53`` (the width is far too small for the values: bins beyond that are not
    integers of float64)."""
    q = np.floor(a / width) if a.dtype.kind == "f" else np.floor(a.astype(np.float64) / width)
    lo, hi = (float(q.min()), float(q.max())) if q.size else (0.0, 0.0)
    if not (abs(lo) < _EXACT_LIMIT and abs(hi) < _EXACT_LIMIT):
        raise EstimatorRefused(
            f"binning: width={width!r} gives bin indices up to {max(abs(lo), abs(hi)):.3g} "
            f"(values up to {float(np.abs(a).max()):.3g}), beyond 2**53; use a larger width"
        )
    return q, lo, hi


def width_bins(a: np.ndarray, width: float) -> np.ndarray:
    """Unbounded fixed-width bin indices ``floor(a / width)`` (int64, ``a``'s shape).

    The quotient is computed in ``a``'s own float dtype, exactly as ``np.floor(a / width)``
    (float32 activations divided in float32, as artemyk/ibsgd's ``simplebinmi.
    bin_calc_information2`` bins them), so the bins are those of that expression bit for bit:
    a value exactly on a multiple of ``width`` opens the bin above it; negative values get
    negative bins. Integer input is divided in float64. Raises
    :class:`~infoplane.estimators.base.EstimatorRefused` when a bin index reaches ``2**53``
    (the width is far too small for the values).
    """
    return _width_quotients(np.asarray(a), width)[0].astype(np.int64)


def width_codes(a: np.ndarray, width: float) -> tuple[np.ndarray, int]:
    """One code per row of a float array (n, d) or (n,) binned by :func:`width_bins`.

    The bins are shifted to start at 0 and folded in mixed radix by one float64 matrix-vector
    product, exact while the code range is below ``2**53``: one radix for all units (the layer's
    number of bins spanned) when that fits, else each unit's own; wider codes go through
    :func:`symbols`.

    Returns
    -------
    codes : int64 array (n,)
        Equal binned rows get equal codes (not dense: use them for counting).
    top : int
        An upper bound: every code is in ``0..top-1``.
    """
    a = np.asarray(a)
    q, lo, hi = _width_quotients(a[:, None] if a.ndim == 1 else a, width)
    if q.size == 0:
        return np.zeros(len(q), np.int64), 1
    d = q.shape[1]
    radix = [int(hi - lo) + 1] * d
    shift: float | np.ndarray = lo
    if math.prod(radix) >= _EXACT_LIMIT:  # each unit's own range
        col_lo, col_hi = q.min(axis=0).astype(np.float64), q.max(axis=0).astype(np.float64)
        radix = [int(r) for r in col_hi - col_lo + 1]  # exact: integers below 2**53
        shift = col_lo
    total = math.prod(radix)
    if total >= _EXACT_LIMIT:
        return symbols(q.astype(np.int64))
    mult = np.array([float(math.prod(radix[j + 1:])) for j in range(d)])
    shifted = q.astype(np.float64)  # q - lo taken in float64, where it is exact (below 2**53)
    shifted -= shift
    return (shifted @ mult).astype(np.int64), total


def _binned_codes_columns(a: np.ndarray, bins: int, lo: float, hi: float) -> tuple[np.ndarray, int]:
    """:func:`binned_codes` one column at a time with an exact fix-up against the edges (any
    range, any width; also the reference the blocked path is tested against)."""
    a = _float_view(np.asarray(a), lo, hi)
    if a.ndim == 1:
        a = a[:, None]
    n, d = a.shape
    edges = _edge_table(bins, lo, hi, a.dtype)
    cols = np.ascontiguousarray(a.T)  # one contiguous vector per unit
    code = np.zeros(n, np.int64)
    top = 1
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(d):
            if top * bins >= _INT64_LIMIT:
                code, top = _compact(code)
            code *= bins
            code += _bin_column(cols[j], bins, lo, hi, edges)
            top *= bins
    return code, top


def _run_counts(codes: np.ndarray, top: int | None = None) -> np.ndarray:
    """Occurrences of each distinct value of ``codes`` (in no particular order).

    ``top``, when given, bounds the codes (``0..top-1``): small ranges are counted with
    ``np.bincount``; otherwise the codes are sorted and runs measured (numpy's vectorised sort:
    on 4096 row codes of different layers 17 us, against 57 us for a compiled hash table, whose
    probes mispredict on fresh data).
    """
    n = len(codes)
    if n == 0:
        return np.zeros(0, np.int64)
    if top is not None and top <= 8 * n + 1024:
        counts = np.bincount(codes, minlength=0)
        return counts[counts > 0]
    s = np.sort(codes)
    change = np.empty(n + 1, bool)
    change[0] = change[-1] = True
    np.not_equal(s[1:], s[:-1], out=change[1:-1])
    bounds = np.flatnonzero(change)
    return bounds[1:] - bounds[:-1]


def _pair_counts(
    codes: np.ndarray, top: int, labels: np.ndarray, n_labels: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(counts of ``codes``, counts of the pairs (code, label)) from one sort of the joint codes
    ``code << b | label`` (``labels`` dense in ``0..n_labels-1 < 2**b``), when the codes are
    too many for :func:`np.bincount` and the joint codes fit int64; else None. The counts are
    those :func:`_run_counts` gives for the codes and for the joint codes."""
    n = len(codes)
    bits = max(int(n_labels - 1).bit_length(), 0)
    if top <= 8 * n + 1024 or top << bits >= _INT64_LIMIT:
        return None
    joint = np.sort((codes << bits) | labels)
    return _kernels.sorted_pair_counts(joint, bits)


def _pair_entropies(
    codes: np.ndarray, top: int, labels: np.ndarray, n_labels: int
) -> tuple[int, float, float] | None:
    """(number of distinct codes, entropies (nats) of the codes and of the (code, label)
    pairs) where :func:`_pair_counts` counts them (else None): the entropies
    :func:`_entropy_from_counts` gives for its counts, bit for bit, from one compiled call."""
    n = len(codes)
    bits = max(int(n_labels - 1).bit_length(), 0)
    if top <= 8 * n + 1024 or top << bits >= _INT64_LIMIT:
        return None
    joint = codes << bits
    joint |= labels
    joint.sort()  # a fresh array: sorted in place
    return _kernels.sorted_pair_entropies(joint, bits)


def _entropy_from_counts(counts: np.ndarray) -> float:
    """Plug-in entropy (nats) of positive counts: ``log N - (1/N) sum_c n_c log n_c``,
    independent of the order of ``counts`` (see :func:`infoplane.estimators._kernels.plugin_entropy`)."""
    if len(counts) == 0:
        return 0.0
    return float(_kernels.plugin_entropy(np.ascontiguousarray(counts, dtype=np.int64)))


def _mi_from_codes(cx: np.ndarray, tx: int, cy: np.ndarray, ty: int, kx: np.ndarray | None = None,
                   ky: np.ndarray | None = None, kxy: np.ndarray | None = None,
                   hxy: tuple[float, float] | None = None) -> float:
    """Plug-in I(X;Y) in nats of integer codes ``cx`` in ``0..tx-1`` and ``cy`` in ``0..ty-1``
    (codes need not be dense); ``kx``, ``ky``, ``kxy``, optional, are the counts of x, y and
    of the pairs taken already (:func:`_run_counts`, :func:`_pair_counts`), and ``hxy`` the
    entropies of the first two, so a layer shared by two estimates is counted once."""
    n = len(cx)
    kx = _run_counts(cx, tx) if kx is None else kx
    ky = _run_counts(cy, ty) if ky is None else ky
    hx, hy = (_entropy_from_counts(kx), _entropy_from_counts(ky)) if hxy is None else hxy
    if len(kx) == n:  # every x distinct (e.g. sample ids): H(X,Y) = H(X)
        return hy
    if len(ky) == n:
        return hx
    if kxy is not None:
        return hx + hy - _entropy_from_counts(kxy)
    if tx * ty >= _INT64_LIMIT:
        cx, tx = _compact(cx)
    if tx * ty >= _INT64_LIMIT:
        cy, ty = _compact(cy)
    return hx + hy - _entropy_from_counts(_run_counts(cx * ty + cy, tx * ty))


def _distinct_ids(a: np.ndarray) -> bool:
    """Cheap test for one integer column whose n values are all different (e.g. sample ids)."""
    if not is_discrete(a) or a.ndim != 2 or a.shape[1] != 1:
        return False
    col = a[:, 0]
    n = len(col)
    if n and col[0] == 0 and col[-1] == n - 1 and _kernels.is_arange(col):
        return True  # the common case: ids 0..n-1 in order
    lo, hi = int(col.min()), int(col.max())
    if hi - lo + 1 < n:
        return False
    if hi - lo < 4 * n + 1024:
        return bool(np.bincount(col - lo).max() == 1)
    return len(np.unique(col)) == n


def symbols(a: np.ndarray) -> tuple[np.ndarray, int]:
    """One integer symbol per row of a discrete 2-D array.

    Parameters
    ----------
    a : int array (n, d)

    Returns
    -------
    codes : int64 array (n,)
        Codes in ``0..m-1``; equal rows get equal codes.
    m : int
        Number of distinct rows.
    """
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[:, None]
    n, d = a.shape
    if n == 0:
        return np.zeros(0, np.int64), 0
    a = a.astype(np.int64, copy=False)
    if d == 1:
        col = a[:, 0]
        lo, hi = int(col.min()), int(col.max())
        if hi - lo < 4 * n + 1024:  # dense range: bincount is O(n)
            shifted = col - lo
            counts = np.bincount(shifted, minlength=hi - lo + 1)
            present = counts > 0
            lut = np.cumsum(present) - 1
            return lut[shifted].astype(np.int64), int(present.sum())
        return _compact(col)
    lo = a.min(axis=0)
    radix = (a.max(axis=0) - lo + 1).astype(object)  # Python ints: no overflow in the product
    total = 1
    for r in radix:
        total *= int(r)
    if total < _INT64_LIMIT:
        shifted = a - lo
        mult = np.ones(d, dtype=np.int64)
        for j in range(d - 2, -1, -1):
            mult[j] = mult[j + 1] * int(radix[j + 1])
        codes = shifted @ mult
        if total < 4 * n + 1024:
            counts = np.bincount(codes, minlength=total)
            present = counts > 0
            lut = np.cumsum(present) - 1
            return lut[codes].astype(np.int64), int(present.sum())
        return _compact(codes)
    # Too many possible rows for one int64: unique over a contiguous byte view of each row.
    rows = np.ascontiguousarray(a).view(np.dtype((np.void, a.dtype.itemsize * d))).ravel()
    _, inv = np.unique(rows, return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    return inv, int(inv.max()) + 1


def entropy_of_symbols(codes: np.ndarray, m: int | None = None) -> float:
    """Plug-in Shannon entropy (nats) of non-negative integer symbols; ``m``, optional, bounds
    them (every code in ``0..m-1``) and lets small ranges be counted without sorting."""
    return _entropy_from_counts(_run_counts(np.asarray(codes), m))


def discrete_mi(cx: np.ndarray, mx: int, cy: np.ndarray, my: int) -> float:
    """Plug-in I(X;Y) = H(X) + H(Y) - H(X,Y) in nats of symbol codes ``cx`` in ``0..mx-1`` and
    ``cy`` in ``0..my-1``.

    When every x (or y) is distinct (e.g. unique sample ids), H(X,Y) = H(X) = log n and the
    result is H(Y) (or H(X)) exactly, with no joint counting.
    """
    return _mi_from_codes(np.asarray(cx), mx, np.asarray(cy), my)


def digitize(a: np.ndarray, bins: int, value_range: tuple[float, float]) -> np.ndarray:
    """Bin indices ``0..bins-1`` of a float array for ``bins`` equal-width bins on ``value_range``.

    Convention (as in the IDNNs code of Shwartz-Ziv & Tishby, which applies ``np.digitize`` to
    fixed edges): the ``bins - 1`` interior edges ``linspace(lo, hi, bins + 1)[1:-1]`` are used,
    bins are closed on the left (``edge[i-1] <= v < edge[i]``), and values outside
    ``value_range`` fall into the first or last bin.

    Returns an int64 array of ``a``'s shape. float32 input is binned in float32 (no copy to
    float64) and gets exactly the bins ``np.digitize`` gives with the float64 edges: the edges
    are rounded up to float32 and an arithmetic guess is corrected against them.
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    a = _float_view(np.asarray(a), lo, hi)
    if a.size == 0:
        return np.zeros(a.shape, np.int64)
    if np.isnan(a).any():
        raise ValueError("digitize: the array contains NaN, which has no bin")
    edges = _edge_table(bins, lo, hi, a.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return _bin_column(a.reshape(-1), bins, lo, hi, edges).reshape(a.shape)


def _check_bins(est: Estimator) -> None:
    b = est.params["bins"]
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
        raise ValueError(f"{est.name}: bins must be a positive integer; got bins={b!r}")


def _symbols_of(a: np.ndarray, to_bins) -> tuple[np.ndarray, int]:
    if is_discrete(a):
        return symbols(a)
    return symbols(to_bins(a))


@register
class BinningEstimator(Estimator):
    """Fixed-width binning: the plug-in estimator of the IDNNs information plane.

    Shwartz-Ziv, R. & Tishby, N. (2017). Opening the black box of deep neural networks via
    information. arXiv:1703.00810.

    Float arrays are discretised into ``bins`` equal-width bins on ``range`` (see
    :func:`digitize` for the edge convention); integer arrays are symbols as they are. Each row is
    one symbol and ``I = H(X) + H(Y) - H(X,Y)`` of the symbols (plug-in, in bits). With unique
    sample ids ``x = np.arange(n)``, ``I(X;T) = H(T)`` of the binned layer.

    Three binning schemes of the debate on the information bottleneck:

    * bounded range, ``bins`` bins on ``range = (lo, hi)`` (IDNNs: 30 bins on [-1, 1] for tanh);
    * fixed bin width with no bounds, ``width = w``: the bin of a value ``v`` is
      ``floor(v / w)`` (computed in the array's own float dtype, as ``np.floor(v / w)`` does),
      unbounded on both sides, so a layer whose activations grow (ReLU) occupies more bins. This
      is the binning of Saxe et al. (2018), "On the information bottleneck theory of deep
      learning", ICLR 2018 (code: artemyk/ibsgd ``simplebinmi.bin_calc_information2``, whose
      notebooks use ``binsize = 0.5``, ``MNIST_ComputeMI.ipynb``, and 0.07,
      ``IBnet_ComputeMI.ipynb``). ``width`` excludes ``bins`` and ``range``;
    * range fixed over the whole run, ``range = "run"``: Chelombiev, Houghton & O'Donnell
      (2019), "Adaptive estimators show information compression in deep neural networks",
      ICLR 2019, fix the binning range of each layer to the activations' minimum and maximum over
      all recorded epochs. This needs every epoch, so the estimation stage
      (:mod:`infoplane.estimation`) resolves it per (store, layer) and builds the estimator with
      that ``(lo, hi)``; an estimator whose range is still ``"run"`` refuses to estimate
      (ValueError).

    Parameters
    ----------
    bins : int, default 30
        Number of bins on ``range`` (not with ``width``).
    range : (lo, hi), "auto" or "run", default (-1, 1)
        ``"auto"`` uses the min and max of each array that is binned; ``"run"`` is resolved by
        the estimation stage (see above). Not with ``width``.
    width : float > 0 or None, default None
        Bin width of the unbounded scheme, in the units of the activations.
    """

    name = "binning"
    accepts_sample_ids = True  # plug-in: X = sample ids gives H(T) (the IDNNs convention)
    cheap = True  # one compiled pass over the codes: tens of microseconds per (layer, epoch)
    defaults = {"bins": 30, "range": (-1.0, 1.0), "width": None}

    def __init__(self, **params: Any) -> None:
        self._given = frozenset(k for k, v in params.items() if v is not None)  # for _check_width
        super().__init__(**params)

    def _validate_params(self) -> None:
        if self.params["width"] is not None:
            self._check_width()
            return
        _check_bins(self)
        r = self.params["range"]
        if isinstance(r, str):
            if r not in ("auto", "run"):  # "run": resolved to (lo, hi) by the estimation stage
                raise ValueError(f"binning: range must be (lo, hi), 'auto' or 'run'; got range={r!r}")
            return
        try:
            lo, hi = (float(v) for v in r)
        except (TypeError, ValueError):
            raise ValueError(f"binning: range must be (lo, hi), 'auto' or 'run'; got range={r!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"binning: range must satisfy lo < hi (finite); got range={r!r}")
        self.params["range"] = (lo, hi)

    def _check_width(self) -> None:
        """``width`` a finite float > 0, given without ``bins`` or ``range`` (which it replaces:
        both are set to None)."""
        w = self.params["width"]
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) or not (
            math.isfinite(w) and w > 0
        ):
            raise ValueError(f"binning: width must be a finite number > 0 or null; got width={w!r}")
        clash = sorted(self._given & {"bins", "range"})
        if clash:
            given = ", ".join(f"{k}={self.params[k]!r}" for k in clash)
            raise ValueError(
                f"binning: width={w!r} bins floor(v / width) with no bounds and cannot be combined with "
                f"bins or range (got {given}): give either width, or bins and range"
            )
        self.params.update(width=float(w), bins=None, range=None)

    def _check_resolved(self) -> None:
        if self.params["range"] == "run":
            raise ValueError(
                "binning: range 'run' must be resolved to (lo, hi) before estimating: the estimation "
                "stage does it per layer (the layer's min and max over all recorded epochs); to "
                "estimate directly, pass range=(lo, hi)"
            )

    def _codes(self, a: np.ndarray) -> tuple[np.ndarray, int]:
        if is_discrete(a):
            return symbols(a)
        w = self.params["width"]
        if w is not None:
            return width_codes(a, w)
        r = self.params["range"]
        if r == "auto":
            lo, hi = float(a.min()), float(a.max())
            if hi <= lo:
                return np.zeros(a.shape[0], np.int64), 1
            r = (lo, hi)
        return binned_codes(a, self.params["bins"], r)

    def _estimate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        self._check_resolved()
        return self._mi_bits(x, y), float("nan")

    def _mi_bits(self, x: np.ndarray, y: np.ndarray, known: tuple[_Coded, ...] = (),
                 ids: tuple[bool | None, bool | None] = (None, None), kxy: np.ndarray | None = None) -> float:
        """I(X;Y) in bits; ``known`` holds arrays (among ``x``, ``y``) binned and counted
        already, ``ids`` whether ``x``, ``y`` are distinct sample ids when known (None: test),
        ``kxy`` the counts of the pairs when known."""

        def coded(a: np.ndarray) -> _Coded:
            for k in known:
                if k.array is a:
                    return k
            return _Coded(a, *self._codes(a))

        # unique sample ids on one side: I(X;T) = H(T), without building the ids' codes
        for a, other, distinct in ((x, y, ids[0]), (y, x, ids[1])):
            if _distinct_ids(a) if distinct is None else distinct:
                return nats_to_bits(coded(other).entropy())
        cx, cy = coded(x), coded(y)
        mi = _mi_from_codes(cx.codes, cx.top, cy.codes, cy.top, cx.counts(), cy.counts(), kxy,
                            (cx.entropy(), cy.entropy()))
        return nats_to_bits(max(mi, 0.0))

    def plane(self, x: np.ndarray, y: np.ndarray) -> InformationPlane:
        """A function of a layer ``t`` returning ``((I(X;T), se), (I(T;Y), se))`` in bits, for
        many layers against the same inputs ``x`` (n, dx) and labels ``y`` (n, dy): see
        :class:`InformationPlane`."""
        self._check_resolved()
        return InformationPlane(self, x, y)

    def estimate_xt_ty(
        self, x: np.ndarray, t: np.ndarray, y: np.ndarray
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((I(X;T), se), (I(T;Y), se))`` in bits from one binning of the layer ``t`` (n, dt);
        the values of ``estimate_with_error(x, t)`` and ``estimate_with_error(t, y)``."""
        return self.plane(x, y)(t)


class _Coded:
    """An array's row codes (``0..top-1``) and, counted on first use, their occurrences."""

    def __init__(self, array: np.ndarray, codes: np.ndarray, top: int) -> None:
        self.array, self.codes, self.top = array, codes, top
        self._counts: np.ndarray | None = None
        self._entropy: float | None = None

    def counts(self) -> np.ndarray:
        if self._counts is None:
            self._counts = _run_counts(self.codes, self.top)
        return self._counts

    def entropy(self) -> float:
        """Plug-in entropy (nats) of the codes."""
        if self._entropy is None:
            self._entropy = _entropy_from_counts(self.counts())
        return self._entropy


class InformationPlane:
    """I(X;T) and I(T;Y) by fixed-width binning of layers ``t`` against fixed ``x`` and ``y``.

    ``plane(t)`` returns ``((I(X;T), se), (I(T;Y), se))`` in bits (errors NaN: plug-in), the
    same values, bit for bit, and the same errors on bad input as the two calls
    ``estimate_with_error(x, t)`` and ``estimate_with_error(t, y)``. The work is shared: the
    layer is binned and its codes counted once for H(T) (= I(X;T) when ``x`` are unique sample
    ids) and I(T;Y) = H(T) + H(Y) - H(T,Y); ``x`` and ``y`` are coded once for all layers.

    Parameters
    ----------
    est : the :class:`BinningEstimator` (bins, range).
    x : array (n, dx) or (n,): inputs or sample ids.
    y : array (n, dy) or (n,): labels.
    """

    def __init__(self, est: BinningEstimator, x: np.ndarray, y: np.ndarray) -> None:
        self.est = est
        self.x, self.y = as_2d(x, "x"), as_2d(y, "y")
        self._x_ids, self._y_ids = _distinct_ids(self.x), _distinct_ids(self.y)
        self._x: _Coded | None = None
        self._y: _Coded | None = None

    def _coded(self, a: np.ndarray, cache: _Coded | None) -> _Coded:
        return cache if cache is not None else _Coded(a, *self.est._codes(a))

    def _layer(self, t: np.ndarray) -> _Coded:
        """The layer (n, dt) validated as ``estimate_with_error(x, t)`` and ``(t, y)`` validate
        it (same errors), and its codes. A float layer binned on a fixed range by the compiled
        kernel, which counts non-finite values as it bins, skips the separate finiteness pass
        of :func:`~infoplane.estimators.base.as_2d` (a layer with any is checked by it, which
        raises)."""
        r, n = self.est.params["range"], len(self.x)
        a = np.asarray(t)
        if isinstance(r, tuple) and a.ndim == 2 and a.dtype.kind == "f" and len(a) == n == len(self.y) > 1:
            bins = self.est.params["bins"]
            dtype = _compute_dtype(bins, r[0], r[1], a.dtype) if a.size else None
            if dtype is not None:
                codes, top, bad = _binned_codes_kernel(a, bins, r[0], r[1], dtype)
                if not bad:
                    return _Coded(a, codes, top)
        _, a = check_pair(self.x, t)
        if len(self.y) != len(a):
            check_pair(a, self.y)  # raises the message of estimate_with_error(t, y)
        return _Coded(a, *self.est._codes(a))

    def __call__(self, t: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
        layer = self._layer(t)
        x, t = self.x, layer.array
        self._y = self._coded(self.y, self._y)
        nan = float("nan")
        if self._x_ids and not self._y_ids and t.dtype.kind == "f":  # the study's case: one call
            fused = _pair_entropies(layer.codes, layer.top, self._y.codes, self._y.top)
            if fused is not None:  # the values of the general path below, from the same counts
                m, h_t, h_ty = fused
                h_y, n = self._y.entropy(), len(t)
                mi = h_y if m == n else h_t if len(self._y.counts()) == n else h_t + h_y - h_ty
                return (nats_to_bits(h_t), nan), (nats_to_bits(max(mi, 0.0)), nan)
        known = [layer, self._y]
        if not self._x_ids:  # else I(X;T) = H(T) needs no codes of x
            self._x = self._coded(x, self._x)
            known.append(self._x)
        # the layer's counts and those of (layer, label) pairs from one sort
        joint = _pair_counts(layer.codes, layer.top, self._y.codes, self._y.top)
        if joint is not None:
            layer._counts = joint[0]
        t_ids = _distinct_ids(t)
        i_xt = self.est._mi_bits(x, t, tuple(known), (self._x_ids, t_ids))
        i_ty = self.est._mi_bits(t, self.y, tuple(known), (t_ids, self._y_ids), None if joint is None else joint[1])
        return (i_xt, nan), (i_ty, nan)


def adaptive_edges(a: np.ndarray, bins: int, low: float | None = None) -> np.ndarray:
    """Bin edges (float64, non-decreasing) of Chelombiev et al.'s adaptive binning of ``a``.

    The definition of their code (ivansche/adaptive_estimators,
    ``idnns/information/information_process.py``, ``set_up_bins`` with ``per_layer_bins`` and
    ``maxentropy``, the defaults of ``get_information``): ``u`` = the sorted distinct values of
    the whole array (one layer at one epoch, all samples and units pooled), without the value
    ``low``; ``U = len(u)``; the edges are ``[low, u[int(k * (U / bins))] for k = 0..bins-1,
    u[-1]]``, so each of the ``bins`` bins holds about ``U / bins`` distinct values (not
    samples), a value equal to ``low`` (a ReLU's exact zeros, with ``low = 0``) is a bin of its
    own, and so is the maximum (``np.digitize`` puts a value equal to the last edge above it).
    ``low = None`` leaves ``low`` out: their tanh setting, ``low = -1.000001``, is below every
    value and removes none. ``int(k * (U / bins))`` is evaluated in float64 as their Python code
    does.
    """
    u = np.unique(a)
    if low is not None:
        u = u[u != np.float64(low)]  # np.setdiff1d(unique, [low]) of their code (float64 compare)
    head = [] if low is None else [float(low)]
    if len(u) == 0:
        return np.array(head, dtype=np.float64)
    idx = (np.arange(bins) * (len(u) / bins)).astype(np.int64)
    return np.concatenate([head, u[idx], u[-1:]]).astype(np.float64)


def adaptive_bins(a: np.ndarray, bins: int, low: float | None = None) -> np.ndarray:
    """Bin indices (int64, ``a``'s shape) of ``a`` on :func:`adaptive_edges` by ``np.digitize``
    (``edge[i-1] <= v < edge[i]``), as Chelombiev et al.'s code bins them. Their code keys each
    value by its bin's lower edge cast to float32 (the symbols then match these indices whenever
    distinct edges stay distinct in float32, as for float32 activations); a value below ``low``
    would wrap to the top bin there: here it is refused (EstimatorRefused)."""
    if low is not None and a.size and float(a.min()) < low:
        raise EstimatorRefused(
            f"adaptive_binning: values down to {float(a.min()):.6g} are below low={low!r}, the "
            f"activation's lower bound; set low to a bound of the values or null"
        )
    return np.digitize(a, adaptive_edges(a, bins, low)).astype(np.int64)


@register
class AdaptiveBinningEstimator(Estimator):
    """Adaptive binning: bins holding equal numbers of distinct activation values.

    Chelombiev, I., Houghton, C. & O'Donnell, C. (2019). Adaptive estimators show information
    compression in deep neural networks. ICLR 2019. Their public code
    (ivansche/adaptive_estimators, ``idnns/information/information_process.py``,
    ``set_up_bins``) defines the edges; see :func:`adaptive_edges`. For each call and each
    float array (one layer at one epoch), the edges come from the sorted distinct values of
    that array, all samples and units pooled (one set of edges per layer, not per unit), taken
    every ``U / bins`` distinct values; a value equal to ``low`` and the maximum each form a bin
    of their own. Integer arrays are symbols as they are. Rows are symbols and the MI is the
    plug-in ``H(X) + H(Y) - H(X,Y)`` in bits, as in :class:`BinningEstimator`.

    Parameters
    ----------
    bins : int, default 30
        Number of bins the distinct values are split into (their ``num_of_bins``, default 30).
    low : float or None, default None
        The activations' lower bound: values equal to it form their own bin and are left out of
        the distinct values (their code: 0 for ReLU and softplus, -1.000001, below every value,
        for tanh and ELU); None leaves no value out (equivalent to their tanh setting). Values
        below it are refused.
    """

    name = "adaptive_binning"
    accepts_sample_ids = True
    cheap = True
    defaults = {"bins": 30, "low": None}

    def _validate_params(self) -> None:
        _check_bins(self)
        low = self.params["low"]
        if low is not None:
            if isinstance(low, bool) or not isinstance(low, (int, float, np.integer, np.floating)) or not math.isfinite(
                low
            ):
                raise ValueError(f"adaptive_binning: low must be a finite number or null; got low={low!r}")
            self.params["low"] = float(low)

    def _bin(self, a: np.ndarray) -> np.ndarray:
        return adaptive_bins(a, self.params["bins"], self.params["low"])

    def _estimate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        cx, mx = _symbols_of(x, self._bin)
        cy, my = _symbols_of(y, self._bin)
        mi = _mi_from_codes(cx, mx, cy, my)
        return nats_to_bits(max(mi, 0.0)), float("nan")
