"""Compiled (numba) kernels: neighbour searches for the k-NN estimators; row codes, counts and
plug-in entropies for binning.

Every kernel computes max-norm distances exactly as scipy does (``max_c |a_c - b_c|`` in
float64: one subtraction and an exact ``abs``/``max`` per coordinate), and squared Euclidean
distances in the tree's order of additions, so k-th neighbour distances and strict-ball counts
equal those of :class:`scipy.spatial.cKDTree` bit for bit; the tests check this against the
tree and brute-force paths.

The kernels release the GIL and work on a range of rows, so :mod:`infoplane.estimators.knn` runs
row blocks on a thread pool (one thread per available core) without numba's own threading layer.

* ``strip``: rows grouped in strips of about 1.5 sqrt(n) by the first coordinate, sorted by
  the second inside each strip; a query visits strips outwards and walks each from a binary
  search while the gap in those two coordinates is below its current k-th distance (low joint
  dimension; max-norm for KSG, Euclidean for Kozachenko-Leonenko). One-dimensional counts use a
  binary search on the sorted values.
* ``fused``: brute force over all pairs, four query rows at a time and two coordinates per pass
  (each loaded coordinate serves the four rows), with the marginal distances kept in row buffers,
  the k-th joint distance selected on the fly and both marginal counts taken in the same pass
  (high joint dimension; no n x n matrix is formed).
* ``kde_pair_sums``: the Gaussian-kernel sums of the Kolchinsky-Tracey bounds (:mod:`infoplane.
  estimators.kde`), both kernel widths and the same-class sums from one pass over the pairs
  j > i (each pair computed once), in tiles of 4 rows x 512 columns whose every step is a
  vectorised loop, with a polynomial exp (numba's ``np.exp`` is a scalar libm call, 6-8 ns here);
  samples ordered by coordinate 0 so a row block visits only the columns within the cut.
* binning: ``bin_digits`` (arithmetic bin guess, exact when far from an edge, else corrected
  by one comparison per side with the edges), ``sorted_pair_counts``
  (counts of codes and of (code, label) pairs from one sorted array) and ``plugin_entropy``
  (order-independent plug-in entropy of the counts).

Compiled on first use and cached next to this file (``cache=True``); a fresh install pays a
few seconds once. No kernel lets the compiler reorder a sum (``fastmath`` ``reassoc``): a
kernel called by another exists in two compiled copies (its own, and the one inlined into the
caller's cached code), a process runs one or the other depending on what it compiled or loaded
from the cache before, and the compiler vectorises a reorderable sum differently in each; sums
that should vectorise use :func:`fixed_order_sum` (tests/test_compiled_history.py).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "bin_digits",
    "fixed_order_sum",
    "fused_ksg_rows",
    "is_arange",
    "kde_pair_sums",
    "plugin_entropy",
    "sorted_count_rows",
    "sorted_pair_counts",
    "sorted_pair_entropies",
    "strip_count_rows",
    "strip_ksg_1d_rows",
    "strip_kth_rows",
    "strip_order",
]


@njit(nogil=True, cache=True, inline="always")
def _insert(best: np.ndarray, d: float) -> float:
    """Insert d into the ascending array ``best`` (dropping its last entry); return the new last."""
    p = best.shape[0] - 1
    while p > 0 and best[p - 1] > d:
        best[p] = best[p - 1]
        p -= 1
    best[p] = d
    return best[best.shape[0] - 1]


@njit(nogil=True, cache=True, inline="always")
def _max_abs_diff(z: np.ndarray, a: int, b: int) -> float:
    d = abs(z[a, 0] - z[b, 0])
    for c in range(1, z.shape[1]):
        v = abs(z[a, c] - z[b, c])
        if v > d:
            d = v
    return d


@njit(nogil=True, cache=True, inline="always")
def _sq_dist(z: np.ndarray, a: int, b: int) -> float:
    """Squared Euclidean distance of rows a and b, summed as scipy's cKDTree does (four
    accumulators over blocks of four coordinates, added left to right, then the rest in order),
    so its square root equals the tree's distance bit for bit."""
    d = z.shape[1]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    c = 0
    while c + 4 <= d:
        t0 = z[a, c] - z[b, c]
        t1 = z[a, c + 1] - z[b, c + 1]
        t2 = z[a, c + 2] - z[b, c + 2]
        t3 = z[a, c + 3] - z[b, c + 3]
        a0 += t0 * t0
        a1 += t1 * t1
        a2 += t2 * t2
        a3 += t3 * t3
        c += 4
    s = a0 + a1 + a2 + a3
    while c < d:
        t = z[a, c] - z[b, c]
        s += t * t
        c += 1
    return s


@njit(nogil=True, cache=True, inline="always")
def _dist(z: np.ndarray, a: int, b: int, euclid: bool) -> float:
    """Squared Euclidean distance when ``euclid``, else the max-norm distance."""
    return _sq_dist(z, a, b) if euclid else _max_abs_diff(z, a, b)


@njit(nogil=True, cache=True, inline="always")
def _gap_below(g: float, kth: float, euclid: bool) -> bool:
    """Whether a coordinate gap g >= 0 may still hold a point closer than kth (a squared
    distance when ``euclid``). Exact: a computed squared distance is never below the computed
    square of any one coordinate's difference (adding non-negative terms never rounds down past
    either term), and g is never above that difference."""
    return g * g < kth if euclid else g < kth


@njit(nogil=True, cache=True, inline="always")
def _count_sorted(s: np.ndarray, i: int, ri: float) -> int:
    """``#{j : |s_j - s_i| < ri}`` for ascending s: branch-free binary searches on the exact
    predicates ``s_i - s_j < ri`` (j <= i) and ``s_j - s_i < ri`` (j >= i), each monotone on its
    side of i."""
    if not ri > 0.0:
        return 0
    n = s.shape[0]
    x0 = s[i]
    # lo = first j in [0, i] with x0 - s[j] < ri (the predicate "far" holds on a prefix)
    base = 0
    ln = i + 1
    while ln > 1:
        half = ln >> 1
        base = base + half if x0 - s[base + half] >= ri else base
        ln -= half
    lo = base + (1 if x0 - s[base] >= ri else 0)
    # hi = first j in [i, n) with s[j] - x0 >= ri (n if none)
    base = i
    ln = n - i
    while ln > 1:
        half = ln >> 1
        base = base + half if s[base + half] - x0 < ri else base
        ln -= half
    hi = base + (1 if s[base] - x0 < ri else 0)
    return hi - lo


@njit(nogil=True, cache=True)
def sorted_count_rows(s: np.ndarray, r: np.ndarray, start: int, stop: int, out: np.ndarray) -> None:
    """``#{j : |s_j - s_i| < r_i}`` (self included when r_i > 0) for i in start..stop.

    s : (n,) float64 ascending; r : (n,) radii in the same order.
    """
    for i in range(start, stop):
        out[i] = _count_sorted(s, i, r[i])


@njit(nogil=True, cache=True)
def _marginal_rows(at: np.ndarray, rows: tuple, b0: np.ndarray, b1: np.ndarray, b2: np.ndarray, b3: np.ndarray) -> None:
    """b_r[j] = max_c |at[c, j] - at[c, rows[r]]| for the four rows, all j (at: (d, n),
    C-contiguous). Two coordinates per pass (each b_r loaded and stored once per two), and
    each loaded ``at[c, j]`` serves the four rows; every pass is a 1-d loop LLVM vectorises.
    Exact (abs and max do not round), so any order of the coordinates gives the same bits."""
    n = at.shape[1]
    d = at.shape[0]
    i0, i1, i2, i3 = rows
    c = 0
    while c < d:
        first = c == 0
        x = at[c]
        v0, v1, v2, v3 = x[i0], x[i1], x[i2], x[i3]
        two = c + 2 <= d
        y = at[c + 1] if two else x
        w0, w1, w2, w3 = (y[i0], y[i1], y[i2], y[i3]) if two else (v0, v1, v2, v3)
        for j in range(n):  # with one coordinate left, y is x again: max(a, a) = a
            a0 = max(abs(x[j] - v0), abs(y[j] - w0))
            a1 = max(abs(x[j] - v1), abs(y[j] - w1))
            a2 = max(abs(x[j] - v2), abs(y[j] - w2))
            a3 = max(abs(x[j] - v3), abs(y[j] - w3))
            if not first:
                a0 = a0 if a0 > b0[j] else b0[j]
                a1 = a1 if a1 > b1[j] else b1[j]
                a2 = a2 if a2 > b2[j] else b2[j]
                a3 = a3 if a3 > b3[j] else b3[j]
            b0[j] = a0
            b1[j] = a1
            b2[j] = a2
            b3[j] = a3
        c += 2


@njit(nogil=True, cache=True, inline="always")
def _fused_row(bx: np.ndarray, by: np.ndarray, best: np.ndarray) -> tuple[float, int, int]:
    """(k-th joint distance, n_x, n_y) of one row from its marginal distance rows (self included
    at distance 0; k + 1 = len(best)): the k-th distance selected on the fly, then both strict
    counts in one pass."""
    best[:] = np.inf
    kth = np.inf
    for j in range(bx.shape[0]):
        d = bx[j] if bx[j] > by[j] else by[j]
        if d < kth:
            kth = _insert(best, d)
    cx = 0
    cy = 0
    for j in range(bx.shape[0]):
        cx += bx[j] < kth
        cy += by[j] < kth
    return kth, cx - 1, cy - 1


@njit(nogil=True, cache=True)
def fused_ksg_rows(
    xt: np.ndarray,
    yt: np.ndarray,
    k: int,
    start: int,
    stop: int,
    eps: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
) -> None:
    """KSG-1 statistics of rows start..stop by brute force, four rows at a time.

    xt : (dx, n), yt : (dy, n) float64 C-contiguous (the transposed samples). Writes ``eps[i]``
    (k-th neighbour joint max-norm distance) and ``nx[i]``, ``ny[i]`` (other samples strictly
    closer than ``eps[i]`` in each marginal).
    """
    n = xt.shape[1]
    bx = np.empty((4, n))
    by = np.empty((4, n))
    best = np.empty(k + 1)
    for i in range(start, stop, 4):
        nr = min(4, stop - i)
        rows = (i, i + 1 if nr > 1 else i, i + 2 if nr > 2 else i, i + 3 if nr > 3 else i)
        _marginal_rows(xt, rows, bx[0], bx[1], bx[2], bx[3])
        _marginal_rows(yt, rows, by[0], by[1], by[2], by[3])
        for r in range(nr):
            eps[i + r], nx[i + r], ny[i + r] = _fused_row(bx[r], by[r], best)


@njit(nogil=True, cache=True, inline="always")
def _search_first_ge(a: np.ndarray, lo: int, hi: int, v: float) -> int:
    """First index in [lo, hi) with a[index] >= v (hi if none); a ascending on that range.
    Branch-free (a conditional move per halving step)."""
    if hi <= lo:
        return lo
    base = lo
    ln = hi - lo
    while ln > 1:
        half = ln >> 1
        base = base + half if a[base + half] < v else base
        ln -= half
    return base + (1 if a[base] < v else 0)


@njit(nogil=True, cache=True, inline="always")
def _strip_visit(
    zp: np.ndarray, ys: np.ndarray, a: int, b: int, i: int, best: np.ndarray, kth: float, euclid: bool
) -> float:
    """Offer rows a..b of one strip (sorted by column 1, ``ys = zp[:, 1]``) to row i's k-best."""
    y0 = ys[i]
    p = _search_first_ge(ys, a, b, y0)
    j = p - 1
    while j >= a and _gap_below(y0 - ys[j], kth, euclid):
        d = _dist(zp, i, j, euclid)
        if d < kth:
            kth = _insert(best, d)
        j -= 1
    j = p
    while j < b and _gap_below(ys[j] - y0, kth, euclid):
        d = _dist(zp, i, j, euclid)
        if d < kth:
            kth = _insert(best, d)
        j += 1
    return kth


@njit(nogil=True, cache=True, inline="always")
def _strip_kth(
    zp: np.ndarray,
    ys: np.ndarray,
    strip: int,
    xmin: np.ndarray,
    xmax: np.ndarray,
    i: int,
    best: np.ndarray,
    euclid: bool,
) -> float:
    """The k-th neighbour distance of row i (k + 1 = len(best), self included at distance 0;
    squared when ``euclid``): its own strip first, then strips to the left and right while
    their gap in column 0 is below the current k-th distance."""
    n = zp.shape[0]
    ns = xmin.shape[0]
    best[:] = np.inf
    x0 = zp[i, 0]
    s0 = i // strip
    kth = _strip_visit(zp, ys, s0 * strip, min(n, (s0 + 1) * strip), i, best, np.inf, euclid)
    s = s0 - 1
    while s >= 0 and _gap_below(x0 - xmax[s], kth, euclid):
        kth = _strip_visit(zp, ys, s * strip, (s + 1) * strip, i, best, kth, euclid)
        s -= 1
    s = s0 + 1
    while s < ns and _gap_below(xmin[s] - x0, kth, euclid):
        kth = _strip_visit(zp, ys, s * strip, min(n, (s + 1) * strip), i, best, kth, euclid)
        s += 1
    return kth


@njit(nogil=True, cache=True)
def strip_kth_rows(
    zp: np.ndarray,
    ys: np.ndarray,
    strip: int,
    xmin: np.ndarray,
    xmax: np.ndarray,
    k: int,
    start: int,
    stop: int,
    out: np.ndarray,
    euclid: bool = False,
) -> None:
    """k-th neighbour distance (self excluded) of rows start..stop of ``zp``: max-norm, or the
    *squared* Euclidean distance when ``euclid``.

    zp : (n, d >= 2) float64, ys = zp[:, 1] contiguous. Rows are grouped in strips of ``strip``
    consecutive rows by ascending column 0 (strip s spans ``xmin[s]..xmax[s]`` in column 0) and
    sorted by column 1 inside each strip. The row's own strip is searched first, then strips to
    the left and to the right while their gap in column 0 is below the current k-th distance;
    inside a strip rows are walked outwards in column 1 from a binary search while that gap is
    below the k-th distance. Writes ``out[start:stop]``.
    """
    best = np.empty(k + 1)
    for i in range(start, stop):
        out[i] = _strip_kth(zp, ys, strip, xmin, xmax, i, best, euclid)


@njit(nogil=True, cache=True)
def strip_count_rows(
    zp: np.ndarray,
    ys: np.ndarray,
    strip: int,
    xmin: np.ndarray,
    xmax: np.ndarray,
    r: np.ndarray,
    start: int,
    stop: int,
    out: np.ndarray,
) -> None:
    """``#{j : ||z_j - z_i||_inf < r_i}`` (self included when r_i > 0) for rows start..stop.

    Same strip layout as :func:`strip_kth_rows`; ``r`` in the same (strip) order.
    """
    n = zp.shape[0]
    ns = xmin.shape[0]
    for i in range(start, stop):
        x0 = zp[i, 0]
        ri = r[i]
        c = 0
        s0 = i // strip
        s = s0
        while s >= 0 and (s == s0 or x0 - xmax[s] < ri):
            c += _strip_count(zp, ys, s * strip, min(n, (s + 1) * strip), i, ri)
            s -= 1
        s = s0 + 1
        while s < ns and xmin[s] - x0 < ri:
            c += _strip_count(zp, ys, s * strip, min(n, (s + 1) * strip), i, ri)
            s += 1
        out[i] = c


@njit(nogil=True, cache=True, inline="always")
def _strip_count(zp: np.ndarray, ys: np.ndarray, a: int, b: int, i: int, ri: float) -> int:
    y0 = ys[i]
    p = _search_first_ge(ys, a, b, y0)
    c = 0
    j = p - 1
    while j >= a and y0 - ys[j] < ri:
        if _max_abs_diff(zp, i, j) < ri:
            c += 1
        j -= 1
    j = p
    while j < b and ys[j] - y0 < ri:
        if _max_abs_diff(zp, i, j) < ri:
            c += 1
        j += 1
    return c


@njit(nogil=True, cache=True)
def strip_order(ox: np.ndarray, y: np.ndarray, strip: int) -> np.ndarray:
    """Permutation grouping rows in strips of ``strip`` by ascending x, each sorted by y.

    ox : (n,) int64, the rows by ascending x (``argsort(x)``); y : (n,) float64. Ties in y are
    ordered by numpy's quicksort (deterministic); the searches never depend on their order.
    """
    n = ox.shape[0]
    perm = np.empty(n, dtype=np.int64)
    for a in range(0, n, strip):
        b = min(n, a + strip)
        idx = ox[a:b]
        oy = np.argsort(y[idx])
        for q in range(b - a):
            perm[a + q] = idx[oy[q]]
    return perm


@njit(nogil=True, cache=True)
def strip_ksg_1d_rows(
    zp: np.ndarray,
    ys: np.ndarray,
    strip: int,
    xmin: np.ndarray,
    xmax: np.ndarray,
    k: int,
    perm: np.ndarray,
    sx: np.ndarray,
    rank_x: np.ndarray,
    sy: np.ndarray,
    rank_y: np.ndarray,
    start: int,
    stop: int,
    eps: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
) -> None:
    """KSG-1 statistics for one-dimensional x and y in one pass, rows start..stop of ``zp``.

    zp = [x, y][perm] in the strip layout of :func:`strip_kth_rows`; sx, sy : x and y sorted
    ascending; rank_x[r], rank_y[r] : position of row r in them. Writes eps, nx, ny at the
    original row ``perm[i]``.
    """
    best = np.empty(k + 1)
    for i in range(start, stop):
        kth = _strip_kth(zp, ys, strip, xmin, xmax, i, best, False)
        r = perm[i]
        eps[r] = kth
        nx[r] = _count_sorted(sx, rank_x[r], kth) - 1
        ny[r] = _count_sorted(sy, rank_y[r], kth) - 1


# a Python float or a numpy scalar (the float32 path passes np.float32 on purpose)
_Real = float | np.floating


@njit(nogil=True, cache=True, inline="always")
def _clipped(t: _Real, half: _Real, top: _Real) -> _Real:
    """The scaled position t clipped to [half, top] = [0.5, bins - 0.5] (given in t's dtype:
    exact in float32 for the bin counts that compute in float32); NaN -> half (NaN has no bin;
    callers reject it)."""
    t = t if t >= half else half
    return t if t <= top else top


#: Values per block of :func:`bin_digits`'s guess pass (a block with a guess near an edge is
#: corrected as a whole: few values are near an edge, so few blocks are).
_BIN_BLOCK = 512


@njit(nogil=True, cache=True)
def bin_digits(
    a: np.ndarray,
    edges: np.ndarray,
    lo: float,
    scale: float,
    band: float,
    compute32: bool,
    out: np.ndarray,
) -> int:
    """Bin indices of every value of ``a`` on fixed-width bins, as exact float64 integers;
    returns the number of non-finite values of ``a``.

    a : (n, d) float32/float64, C-contiguous; edges : (bins + 1,) padded edges ``-inf,
    interior..., NaN`` in a's dtype, each interior edge rounded up to that dtype, so that
    ``v >= edges[i]`` exactly when ``v`` is at least the float64 edge (``binning._edge_table``;
    nothing is at or above the NaN, so +inf stays in the last bin); ``scale = bins / (hi - lo)``;
    ``band``: the rounding band of the guess, in bins (``binning._near_edge_band`` in the compute
    dtype, a value of that dtype rounded up); out : (n, d) float64, C-contiguous.

    The bin of ``v`` is the arithmetic guess ``floor(t)``, ``t = (v - lo) * scale`` clipped to
    ``[0.5, bins - 0.5]`` (computed in float32 when ``compute32``, else float64). A guess whose
    ``t`` lies at least ``band`` from every integer (every interior edge) is exact; the caller
    guarantees ``band`` far below one bin, so any other guess is at most one bin off, and the
    blocks holding one are corrected by one comparison with the edges on each side (``v <
    edges[i]`` implies ``v < edges[i + 1]``, so this equals stepping down and then testing the
    next edge up). The result is exactly the bin ``np.digitize`` gives with the float64
    interior edges. NaN gets bin 0 (callers reject it: hence the count).

    One pass over the values in memory order, which the compiler vectorises (``floor``, the
    fraction ``t - floor(t)`` and ``1 - fraction`` are exact); the caller folds the digits of
    a row into its code by one matrix-vector product (exact: integers below 2**53).
    """
    bins = edges.shape[0] - 1
    half, top = 0.5, bins - 0.5
    lo32, scale32, half32, top32 = np.float32(lo), np.float32(scale), np.float32(half), np.float32(top)
    band32, one32 = np.float32(band), np.float32(1.0)
    v = a.reshape(-1)
    dig = out.reshape(-1)
    m = v.shape[0]
    bad = 0
    for b0 in range(0, m, _BIN_BLOCK):
        b1 = min(m, b0 + _BIN_BLOCK)
        near = 0
        if compute32:  # the float32 product, clipped in float32 (exactly as widened to float64)
            for k in range(b0, b1):
                t = _clipped((np.float32(v[k]) - lo32) * scale32, half32, top32)
                i = np.floor(t)
                f = t - i
                near += int((f < band32) | (one32 - f < band32))
                bad += v[k] - v[k] != 0  # NaN for NaN and +-inf
                dig[k] = i
        else:
            for k in range(b0, b1):
                t = _clipped((np.float64(v[k]) - lo) * scale, half, top)
                i = np.floor(t)
                f = t - i
                near += int((f < band) | (1.0 - f < band))
                bad += v[k] - v[k] != 0
                dig[k] = i
        if near:
            for k in range(b0, b1):
                x, j = v[k], np.uint64(dig[k])  # unsigned: no negative index wrap-around
                dig[k] += np.float64(x >= edges[j + np.uint64(1)]) - np.float64(x < edges[j])
    return bad


@njit(nogil=True, cache=True)
def sorted_pair_counts(s: np.ndarray, label_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of codes and of (code, label) pairs from the sorted joint codes ``s`` (n,) =
    ``code << label_bits | label``: runs of equal ``s`` are the pairs, runs of equal
    ``s >> label_bits`` the codes (sorting the joint codes orders them by code first). Returns
    (counts per code (m,), counts per pair), each in ascending order of code."""
    n = s.shape[0]
    per_code = np.empty(n, dtype=np.int64)
    per_pair = np.empty(n, dtype=np.int64)
    if n == 0:
        return per_code, per_pair
    m = 0
    q = 0
    code_run = 1
    pair_run = 1
    for i in range(1, n):
        if s[i] == s[i - 1]:
            pair_run += 1
            code_run += 1
            continue
        per_pair[q] = pair_run
        q += 1
        pair_run = 1
        if (s[i] >> label_bits) == (s[i - 1] >> label_bits):
            code_run += 1
        else:
            per_code[m] = code_run
            m += 1
            code_run = 1
    per_pair[q] = pair_run
    per_code[m] = code_run
    return per_code[: m + 1], per_pair[: q + 1]


@njit(nogil=True, cache=True)
def plugin_entropy(counts: np.ndarray) -> float:
    """Plug-in entropy in nats of positive counts, ``log N - (1/N) sum_c n_c log n_c``.

    The sum runs over the histogram of the counts (how many symbols occur m times) in ascending
    m, so the result does not depend on the order of ``counts`` (how symbols are numbered).
    """
    total = 0
    top = 0
    for c in counts:
        total += c
        top = max(top, c)
    if total == 0:
        return 0.0
    mult = np.zeros(top + 1, dtype=np.int64)
    for c in counts:
        mult[c] += 1
    s = 0.0
    for m in range(2, top + 1):  # counts of 1 contribute 1 log 1 = 0
        if mult[m]:
            s += mult[m] * m * np.log(m)
    return np.log(total) - s / total


@njit(nogil=True, cache=True)
def sorted_pair_entropies(s: np.ndarray, label_bits: int) -> tuple[int, float, float]:
    """(number of distinct codes, plug-in entropy in nats of the codes, of the (code, label)
    pairs) of the sorted joint codes ``s`` of :func:`sorted_pair_counts`: :func:`plugin_entropy`
    of its two count arrays, without returning them (one call per layer in place of three)."""
    per_code, per_pair = sorted_pair_counts(s, label_bits)
    return per_code.shape[0], plugin_entropy(per_code), plugin_entropy(per_pair)


@njit(nogil=True, cache=True)
def is_arange(col: np.ndarray) -> bool:
    """True when the integer column (n,) is exactly 0, 1, ..., n-1."""
    for i in range(col.shape[0]):
        if col[i] != i:
            return False
    return True


#: Columns of one tile of :func:`kde_pair_sums` (the tile's buffers stay in L1).
_KDE_TILE = 512
#: ``1.5 * 2**52``: ``t + _SHIFTER`` rounds |t| < 2**51 to an integer held in the low mantissa
#: bits (the round-to-nearest-even of the FPU, no float-to-int conversion needed).
_SHIFTER = 6755399441055744.0
_LOG2E = 1.4426950408889634
#: ln 2 split in a head with trailing zero bits (k * _LN2_HI is exact for |k| < 2**11) and a tail.
_LN2_HI = 0.693147180369123816490
_LN2_LO = 1.90821492927058770002e-10
#: bits of ``_SHIFTER`` minus the exponent bias: ``(bits(t + _SHIFTER) - _EXP_BIAS) << 52`` is
#: the bit pattern of 2**k for the integer k = t rounded.
_EXP_BIAS = 0x4338000000000000 - 1023
#: Lowest exponent passed to the polynomial (exp(-700) ~ 1e-304 is still a normal number).
_EXP_FLOOR = -700.0


@njit(nogil=True, cache=True)
def _kde_tile_distances(ht: np.ndarray, rows: tuple, jb: int, m: int, b: np.ndarray) -> None:
    """b[r, q] = squared Euclidean distance of rows ``rows[r]`` (4 of them) and jb + q, q < m.

    ht has an even number of coordinates (the caller pads with a zero row), taken two at a
    time so each row of ``b`` is loaded and stored once per two coordinates; each loaded
    ``ht[c, j]`` serves the four rows. Every row of ``b`` is a 1-d loop LLVM vectorises.
    """
    ia, ib, ic, id_ = rows
    b0, b1, b2, b3 = b[0], b[1], b[2], b[3]
    for c in range(0, ht.shape[0], 2):
        x, y = ht[c, jb : jb + m], ht[c + 1, jb : jb + m]
        v0, v1, v2, v3 = ht[c, ia], ht[c, ib], ht[c, ic], ht[c, id_]
        w0, w1, w2, w3 = ht[c + 1, ia], ht[c + 1, ib], ht[c + 1, ic], ht[c + 1, id_]
        first = c == 0
        for q in range(m):
            s0, s1, s2, s3 = x[q] - v0, x[q] - v1, x[q] - v2, x[q] - v3
            t0, t1, t2, t3 = y[q] - w0, y[q] - w1, y[q] - w2, y[q] - w3
            b0[q] = (0.0 if first else b0[q]) + (s0 * s0 + t0 * t0)
            b1[q] = (0.0 if first else b1[q]) + (s1 * s1 + t1 * t1)
            b2[q] = (0.0 if first else b2[q]) + (s2 * s2 + t2 * t2)
            b3[q] = (0.0 if first else b3[q]) + (s3 * s3 + t3 * t3)


@njit(nogil=True, cache=True, fastmath={"contract"})
def _kde_exp(b: np.ndarray, neg_inv: float, x_min: float, t: np.ndarray, s: np.ndarray) -> None:
    """b[q] <- exp(x) with x = b[q] * neg_inv where x > x_min, else 0; in place, (m,) float64.

    A branch-free exp that LLVM vectorises (numba's ``np.exp`` is a scalar libm call here):
    x = k ln 2 + y with k = round(x / ln 2) and |y| <= ln 2 / 2 (Cody-Waite, two-part ln 2),
    exp(y) by its degree-12 Taylor polynomial (truncation < 2e-16 relative, evaluated in
    Estrin's scheme), times 2**k built from the bits of ``x / ln 2 + 1.5 * 2**52``. Within a
    few ulp of ``np.exp`` for x >= -700 (x_min >= -700). ``t``, ``s``: float64 scratch arrays
    (>= m).
    """
    m = b.shape[0]
    for q in range(m):
        x = b[q] * neg_inv
        x = x if x > _EXP_FLOOR else _EXP_FLOOR
        b[q] = x
        t[q] = x * _LOG2E + _SHIFTER
    ti, si = t.view(np.int64), s.view(np.int64)
    for q in range(m):
        si[q] = (ti[q] - _EXP_BIAS) << 52
    for q in range(m):
        x = b[q]
        k = t[q] - _SHIFTER
        y = (x - k * _LN2_HI) - k * _LN2_LO
        y2 = y * y
        y4 = y2 * y2
        q0 = (1.0 + y) + y2 * (0.5 + y * (1.0 / 6.0))
        q1 = (1.0 / 24.0 + y * (1.0 / 120.0)) + y2 * (1.0 / 720.0 + y * (1.0 / 5040.0))
        q2 = (1.0 / 40320.0 + y * (1.0 / 362880.0)) + y2 * (1.0 / 3628800.0 + y * (1.0 / 39916800.0))
        p = (q0 + y4 * q1) + (y4 * y4) * (q2 + y4 * (1.0 / 479001600.0))
        b[q] = p * s[q] if x > x_min else 0.0


@njit(nogil=True, cache=True, inline="always")
def fixed_order_sum(a: np.ndarray) -> float:
    """The sum of a (m,) float64 in an order of additions fixed by the source: eight partial
    sums (term q in partial sum ``q % 8``, for the q below ``m - m % 8``) added as ``((s0 + s1)
    + (s2 + s3)) + ((s4 + s5) + (s6 + s7))``, then the remaining terms in order.

    The compiler may run the eight partial sums as vector lanes, which changes no rounding; a
    sum left to the compiler to reorder (``fastmath`` ``reassoc``) was vectorised differently in
    the copy of a function compiled on its own and in the copy inlined into a cached caller, so
    the bits depended on which copy a process ran.
    """
    m = a.shape[0]
    full = m - m % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for q in range(0, full, 8):
        s0 += a[q]
        s1 += a[q + 1]
        s2 += a[q + 2]
        s3 += a[q + 3]
        s4 += a[q + 4]
        s5 += a[q + 5]
        s6 += a[q + 6]
        s7 += a[q + 7]
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for q in range(full, m):
        s += a[q]
    return s


@njit(nogil=True, cache=True)
def _kde_row_terms(
    e: np.ndarray, u: np.ndarray, ec: np.ndarray, uc: np.ndarray, cs: np.ndarray, c: int, use_codes: bool
) -> tuple[float, float, float, float]:
    """From one row's Bhattacharyya terms e (m,): u = e**4 (the KL terms), the class-masked
    ``ec``/``uc`` (zero where ``cs != c``), and the four sums (u, e, uc, ec), each by
    :func:`fixed_order_sum` (the same bits in every compiled copy)."""
    for q in range(e.shape[0]):
        v = e[q]
        w = v * v
        u[q] = w * w
    if not use_codes:
        return fixed_order_sum(u), fixed_order_sum(e), 0.0, 0.0
    for q in range(e.shape[0]):
        same = cs[q] == c
        uc[q] = u[q] if same else 0.0
        ec[q] = e[q] if same else 0.0
    return fixed_order_sum(u), fixed_order_sum(e), fixed_order_sum(uc), fixed_order_sum(ec)


@njit(nogil=True, cache=True)
def _kde_col_add(a: np.ndarray, v: np.ndarray, m: int) -> None:
    """a[q] += v[0, q] + v[1, q] + v[2, q] + v[3, q], q < m (the column terms of four rows)."""
    v0, v1, v2, v3 = v[0], v[1], v[2], v[3]
    for q in range(m):
        a[q] += (v0[q] + v1[q]) + (v2[q] + v3[q])


@njit(nogil=True, cache=True)
def kde_pair_sums(
    ht: np.ndarray,
    codes: np.ndarray,
    use_codes: bool,
    inv8v: float,
    cut: float,
    start: int,
    stop: int,
    acc: np.ndarray,
) -> None:
    """Add the kernel terms of the pairs (i, j), i in start..stop, j > i, to both rows.

    ht : (d, n) float64 C-contiguous, the transposed samples with d even (pad with a zero
    coordinate) and the samples in ascending order of coordinate 0; codes : (n,) int64 class
    of each row (read only when ``use_codes``); ``inv8v = 1 / (8 s^2)``; acc : (4, n)
    float64, the caller's own accumulator. With ``D`` the squared Euclidean distance of a
    pair, ``e = exp(-D / 8s^2)`` (the Bhattacharyya kernel) and ``u = e^4 = exp(-D / 2s^2)``
    (the KL kernel) are added to ``acc[0]`` (u) and ``acc[1]`` (e) of both rows, and to
    ``acc[2]``, ``acc[3]`` when the two rows share a class. Pairs with ``D >= cut`` add 0 (the
    caller picks ``cut`` so that their terms are below the rounding of sums that hold the self
    term 1), and the columns j whose coordinate 0 alone is farther than sqrt(cut) from the
    rows' are not visited (the order by coordinate 0 makes them a tail). The self terms (1)
    are not added here.

    Rows are taken four at a time against tiles of ``_KDE_TILE`` columns j; each step (the
    distances, the exp, the fourth power and the sums, the column sums) is a 1-d loop over the
    tile that LLVM vectorises.
    """
    x0 = ht[0]
    reach = math.sqrt(cut) * (1.0 + 1e-12)
    b = np.zeros((4, _KDE_TILE))  # distances, then e
    u = np.zeros((4, _KDE_TILE))
    ec = np.zeros((4, _KDE_TILE))
    uc = np.zeros((4, _KDE_TILE))
    t = np.empty(_KDE_TILE)
    sc = np.empty(_KDE_TILE)
    x_min = -cut * inv8v
    own = np.empty((4, 4))  # the four rows' own sums, added once at the end
    for i0 in range(start, stop, 4):
        nr = min(4, stop - i0)
        rows = (i0, i0 + 1 if nr > 1 else i0, i0 + 2 if nr > 2 else i0, i0 + 3 if nr > 3 else i0)
        jhi = np.searchsorted(x0, x0[i0 + nr - 1] + reach, side="right")
        own[:] = 0.0
        for jb in range(i0 + 1, jhi, _KDE_TILE):
            m = min(_KDE_TILE, jhi - jb)
            _kde_tile_distances(ht, rows, jb, m, b)
            for r in range(4):
                _kde_exp(b[r, :m], -inv8v, x_min, t, sc)
            if jb == i0 + 1:  # the pairs j <= i of the block's own rows
                for r in range(1, 4):
                    b[r, : min(r, m)] = 0.0
            for r in range(nr, 4):  # rows past stop (repeats of row i0)
                b[r, :m] = 0.0
            cs = codes[jb : jb + m] if use_codes else codes[:0]
            for r in range(4):
                ci = codes[rows[r]] if use_codes else 0
                sums = _kde_row_terms(b[r, :m], u[r, :m], ec[r, :m], uc[r, :m], cs, ci, use_codes)
                for k in range(4):
                    own[r, k] += sums[k]
            _kde_col_add(acc[0, jb : jb + m], u, m)
            _kde_col_add(acc[1, jb : jb + m], b, m)
            if use_codes:
                _kde_col_add(acc[2, jb : jb + m], uc, m)
                _kde_col_add(acc[3, jb : jb + m], ec, m)
        for r in range(nr):
            for k in range(4):
                acc[k, i0 + r] += own[r, k]
