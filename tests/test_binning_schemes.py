"""Binning schemes of the information-bottleneck debate: fixed width with no bounds (Saxe et al.
2018), range fixed over the run and adaptive bins (Chelombiev et al. 2019)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from infoplane.estimators import get_estimator
from infoplane.estimators.base import EstimatorRefused
from infoplane.estimators.binning import adaptive_bins, adaptive_edges, width_bins, width_codes


def _entropy_bits(symbols: list) -> float:
    n = len(symbols)
    return -sum(c / n * math.log2(c / n) for c in Counter(symbols).values())


def _rows(a: np.ndarray) -> list[tuple]:
    return [tuple(r) for r in np.asarray(a).reshape(len(a), -1).tolist()]


def _plugin_mi_bits(a: list, b: list) -> float:
    return _entropy_bits(a) + _entropy_bits(b) - _entropy_bits(list(zip(a, b, strict=True)))


def _same_partition(codes: np.ndarray, rows: list) -> bool:
    """Equal codes exactly for equal rows."""
    return len(set(zip(codes.tolist(), rows, strict=True))) == len(set(rows)) == len(set(codes.tolist()))


# ---- fixed width, no bounds --------------------------------------------------------------------
def test_width_bins_hand_values():
    v = np.array([-1.0, -0.75, -0.5, -0.25, -0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 7.3])
    assert width_bins(v, 0.5).tolist() == [-2, -2, -1, -1, 0, 0, 0, 1, 1, 2, 14]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [0.5, 0.07, 0.1, 3.0, 1e-3])
def test_width_bins_equal_np_floor_at_multiples_and_negatives(dtype, width):
    """floor(v / width) in the array's own dtype (np.floor(v / width), as ibsgd computes it on
    float32 activations), for values on every multiple of the width from -40 to 40 widths, one
    ulp either side, and random values; rows of 3 units get equal codes exactly when equal."""
    rng = np.random.default_rng(7)
    k = np.arange(-40, 41)
    on = (k * width).astype(dtype)
    on2 = (k.astype(dtype) * dtype(width)).astype(dtype)  # the float32 product, another rounding
    pool = np.concatenate([on, on2, np.nextafter(on, dtype(np.inf)), np.nextafter(on, dtype(-np.inf)),
                           rng.uniform(-45 * width, 45 * width, 3000).astype(dtype), dtype([0.0, -0.0])])
    assert pool.dtype == dtype
    ref = np.floor(pool / width)
    assert ref.dtype == dtype  # float32 input is divided in float32
    got = width_bins(pool, width)
    assert got.dtype == np.int64 and np.array_equal(got, ref.astype(np.int64))
    assert got.min() < -30 and got.max() > 30
    m = len(pool) // 3 * 3
    a = rng.permutation(pool)[:m].reshape(-1, 3)
    codes, top = width_codes(a, width)
    ref_rows = _rows(np.floor(a / width).astype(np.int64))
    assert 0 <= codes.min() and codes.max() < top
    assert _same_partition(codes, ref_rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["wide", "one unit spans far"])
def test_width_codes_of_wide_layers_beyond_float64_integers(dtype, layout):
    """24 units of about 60 bins each: 60**24 codes fit neither fold, so the rows go through
    symbols(); 8 units, one of them spanning 20000 bins and 7 of them 2 bins: too many for one
    radix (20000**8), few for each unit's own. Same partition as the np.floor rows, and the MI
    of the reference."""
    rng = np.random.default_rng(9)
    if layout == "wide":
        t = np.maximum(rng.standard_normal((800, 24)) * 10, -3).astype(dtype)
    else:
        t = rng.integers(0, 2, (800, 8)).astype(dtype) * 0.5
        t[:, 3] = rng.uniform(-5000, 5000, 800)
    codes, top = width_codes(t, 0.5)
    ref_rows = _rows(np.floor(t / 0.5).astype(np.int64))
    assert 0 <= codes.min() and codes.max() < top and _same_partition(codes, ref_rows)
    assert (top == len(set(ref_rows))) == (layout == "wide")  # dense codes only from symbols()
    y = rng.integers(0, 2, 800)
    est = get_estimator("binning", width=0.5)
    assert est.estimate(t, y) == pytest.approx(_plugin_mi_bits(ref_rows, y.tolist()), abs=1e-12)


def test_width_binning_gets_more_bins_as_activations_grow():
    """A ReLU-like layer scaled by 1, 2, 4 occupies more width-0.5 bins and has a larger binned
    entropy H(T) = I(X;T) with sample ids; the bounded [-1, 1] binning saturates instead."""
    rng = np.random.default_rng(3)
    t = np.maximum(rng.standard_normal((2000, 4)), 0.0).astype(np.float32)
    ids = np.arange(2000)
    est = get_estimator("binning", width=0.5)
    bounded = get_estimator("binning", bins=30, range=(-1, 1))
    occupied, h, h_bounded = [], [], []
    for scale in (1, 2, 4):
        layer = (scale * t).astype(np.float32)
        occupied.append(len(np.unique(width_bins(layer, 0.5))))
        h.append(est.estimate(ids, layer))
        h_bounded.append(bounded.estimate(ids, layer))
        assert h[-1] == pytest.approx(_entropy_bits(_rows(np.floor(layer / 0.5))), abs=1e-9)
    assert occupied[0] < occupied[1] < occupied[2]
    assert h[0] < h[1] < h[2]
    assert h_bounded[2] < h[2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_width_mi_equals_plugin_reference(dtype):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 1500)
    t = (rng.standard_normal((1500, 3)) + y[:, None]).astype(dtype)
    ref = _plugin_mi_bits(_rows(np.floor(t / 0.5)), y.tolist())
    est = get_estimator("binning", width=0.5)
    assert est.estimate(t, y) == pytest.approx(ref, abs=1e-12)
    assert est.estimate(y, t) == est.estimate(t, y)


@pytest.mark.parametrize("params", [{"width": 0.5}, {"width": 0.07}, {"range": (-3.0, 5.0), "bins": 17}])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plane_equals_estimate_with_error_for_the_new_schemes(params, dtype):
    """plane(x, y)(t) gives the floats of estimate_with_error(x, t) and (t, y), for the width
    scheme and for a range the estimation stage substitutes for "run"."""
    rng = np.random.default_rng(11)
    n = 1024
    y = rng.integers(0, 4, n)
    est = get_estimator("binning", **params)
    layers = [(np.maximum(rng.standard_normal((n, 6)), 0) * s).astype(dtype) for s in (0.2, 1.0, 8.0)]
    layers.append(np.full((n, 6), -0.3, dtype))
    for x in (np.arange(n), rng.integers(0, 2, (n, 5))):
        plane = est.plane(x, y)
        for t in layers:
            assert repr(plane(t)) == repr((est.estimate_with_error(x, t), est.estimate_with_error(t, y)))


def test_width_validation():
    with pytest.raises(ValueError, match=r"width=0.5 .* cannot be combined with bins or range \(got range="):
        get_estimator("binning", width=0.5, range=(-1, 1))
    with pytest.raises(ValueError, match=r"cannot be combined with bins or range \(got bins=30, range='auto'\)"):
        get_estimator("binning", width=0.5, bins=30, range="auto")
    for bad in (0, -0.5, float("nan"), float("inf"), True, "0.5", [0.5]):
        with pytest.raises(ValueError, match="binning: width must be a finite number > 0"):
            get_estimator("binning", width=bad)
    est = get_estimator("binning", width=1, bins=None, range=None)  # explicit nulls are not a clash
    assert est.params == {"bins": None, "range": None, "width": 1.0}
    with pytest.raises(EstimatorRefused, match="width=1e-300 gives bin indices"):
        get_estimator("binning", width=1e-300).estimate(np.array([0.0, 1.0]), np.array([0, 1]))


# ---- range fixed over the run ------------------------------------------------------------------
def test_range_run_is_accepted_and_left_to_the_estimation_stage():
    est = get_estimator("binning", range="run")
    assert est.params["range"] == "run"
    t = np.linspace(-1, 1, 20)[:, None]
    msg = r"range 'run' must be resolved to \(lo, hi\) before estimating: the estimation stage does it per layer"
    with pytest.raises(ValueError, match=msg):
        est.estimate(np.arange(20), t)
    with pytest.raises(ValueError, match=msg):
        est.plane(np.arange(20), np.zeros(20, int))
    with pytest.raises(ValueError, match="range must be .* 'auto' or 'run'; got range='epoch'"):
        get_estimator("binning", range="epoch")
    with pytest.raises(ValueError, match="cannot be combined with bins or range"):
        get_estimator("binning", range="run", width=0.5)


# ---- adaptive (Chelombiev et al. 2019) ---------------------------------------------------------
def chelombiev_symbols(data: np.ndarray, num_of_bins: int, low: float) -> np.ndarray:
    """The adaptive binning of ivansche/adaptive_estimators, literally: ``set_up_bins`` (per
    layer, maxentropy) for one layer at one epoch, then ``calc_information_sampling``'s
    digitisation; each row's values become the lower edges of their bins (float32)."""
    layer_bins = [low]
    unique = np.unique(np.squeeze(data.reshape(1, -1)))
    unique = np.sort(np.setdiff1d(unique, layer_bins))
    if unique.size > 0:
        for k in range(num_of_bins):
            ind = int(k * (unique.size / num_of_bins))
            layer_bins.append(unique[ind])
        layer_bins.append(unique[-1])
    bins = np.asarray(layer_bins).astype(np.float32)
    return bins[np.digitize(np.squeeze(data.reshape(1, -1)), bins) - 1].reshape(len(data), -1)


def chelombiev_mi_bits(digitized: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(I(X;T), I(T;Y)) in bits as their ``calc_information_from_mat`` with unique inputs:
    H(T) and H(T) - sum_y p(y) H(T | y), rows counted as np.void items."""

    def h(rows: np.ndarray) -> float:
        void = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
        _, counts = np.unique(void, return_counts=True)
        p = counts / counts.sum()
        return float(-np.sum(p * np.log2(p)))

    h_t = h(digitized)
    classes, counts = np.unique(labels, return_counts=True)
    h_t_y = sum(c / len(labels) * h(digitized[labels == v]) for v, c in zip(classes, counts, strict=True))
    return h_t, h_t - h_t_y


def test_adaptive_edges_hand_case():
    v = np.array([0.0, 1, 2, 3, 4, 5])
    # U = 6 distinct values, 2 bins: edges u[0], u[3] and the maximum u[5]
    assert adaptive_edges(v, 2).tolist() == [0.0, 3.0, 5.0]
    assert adaptive_bins(v, 2).tolist() == [1, 1, 1, 2, 2, 3]  # the maximum is a bin of its own
    # low = 0 (ReLU): zeros are left out of the distinct values and form their own bin
    assert adaptive_edges(np.array([0.0, 0, 1, 2, 3, 4, 5]), 2, low=0.0).tolist() == [0.0, 1.0, 3.0, 5.0]
    assert adaptive_bins(np.array([0.0, 0, 1, 2, 3, 4, 5]), 2, low=0.0).tolist() == [1, 1, 2, 2, 3, 3, 4]


def _adaptive_layers(rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
    """(float32 layer (n, d), low): tanh with ties, saturated tanh, ReLU with many exact zeros,
    a layer with fewer distinct values than bins, a constant ReLU layer of zeros."""
    n = 1200
    pre = rng.standard_normal((n, 5))
    return [
        (np.tanh(pre).astype(np.float32), -1.000001),
        (np.round(np.tanh(3 * pre), 2).astype(np.float32), -1.000001),
        (np.tanh(40 * pre).astype(np.float32), -1.000001),
        (np.maximum(pre * 2.5, 0).astype(np.float32), 0.0),
        (np.round(np.maximum(pre, 0), 1).astype(np.float32), 0.0),
        (np.zeros((n, 3), np.float32), 0.0),
    ]


@pytest.mark.parametrize("bins", [1, 2, 7, 30, 100])
def test_adaptive_binning_equals_chelombiev_reference(bins):
    """Same partition of the values and the same I(X;T), I(T;Y) (bits) as their code; low =
    None gives the tanh partition of their low = -1.000001."""
    rng = np.random.default_rng(bins)
    for layer, low in _adaptive_layers(rng):
        labels = rng.integers(0, 3, len(layer))
        ref = chelombiev_symbols(layer, bins, low)
        ours = adaptive_bins(layer, bins, low)
        assert _same_partition(ours.ravel(), ref.ravel().tolist())
        lows = [low, None] if low < -1 else [low]
        for lo in lows:
            est = get_estimator("adaptive_binning", bins=bins, low=lo)
            ref_xt, ref_ty = chelombiev_mi_bits(ref, labels)
            assert est.estimate(np.arange(len(layer)), layer) == pytest.approx(ref_xt, abs=1e-12)
            assert est.estimate(layer, labels) == pytest.approx(ref_ty, abs=1e-12)


def test_adaptive_binning_float64_layer_and_validation():
    rng = np.random.default_rng(2)
    t = np.maximum(rng.standard_normal((800, 3)), 0)  # float64: edges are the values themselves
    ref = chelombiev_symbols(t.astype(np.float32), 10, 0.0)
    assert _same_partition(adaptive_bins(t.astype(np.float32), 10, 0.0).ravel(), ref.ravel().tolist())
    ours = adaptive_bins(t, 10, 0.0)
    assert _same_partition(ours.ravel(), adaptive_bins(t.astype(np.float32), 10, 0.0).ravel().tolist())
    with pytest.raises(EstimatorRefused, match=r"below low=0.5"):
        get_estimator("adaptive_binning", low=0.5).estimate(np.arange(800), t)
    for bad in (float("nan"), "zero", True):
        with pytest.raises(ValueError, match="adaptive_binning: low must be a finite number or null"):
            get_estimator("adaptive_binning", low=bad)


# ---- the plane's fast path (kernel counts non-finite values instead of a separate pass) -------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_plane_rejects_non_finite_layers_like_estimate(dtype, bad):
    rng = np.random.default_rng(0)
    est = get_estimator("binning", bins=30, range=(-1, 1))
    plane = est.plane(np.arange(300), rng.integers(0, 2, 300))
    t = np.tanh(rng.standard_normal((300, 4))).astype(dtype)
    t[17, 2] = bad
    with pytest.raises(ValueError, match="y contains 1 non-finite values"):
        plane(t)
    with pytest.raises(ValueError, match="y contains 1 non-finite values"):
        est.estimate_with_error(np.arange(300), t)
    # a column-major layer (a transposed view) gives the floats of the row-major one
    t[17, 2] = 0.5
    assert repr(plane(np.asfortranarray(t))) == repr(plane(t))
