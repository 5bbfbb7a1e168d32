"""Property tests (hypothesis): estimator invariants on arbitrary finite input, config round trip.

* every estimator returns a finite number of bits on finite input, including ties, constant
  columns and wide value ranges; within the bounds its formula guarantees: plug-in binning
  0 <= I <= log2(n); KSG-1 (psi(k) - psi(n)) / ln 2 <= I <= (psi(k) + psi(n) + 2 gamma) / ln 2
  (every marginal count between 0 and n - 1); KSG with labels (Ross 2014) at most the label
  entropy plus (number of classes) / (n ln 2) (psi(n) - psi(n_c) <= ln(n / n_c) + 1 / n_c).
  SP (``sp``) with labels at most the label entropy (each draw's term is a log posterior ratio,
  at most ln(n / n_c)), with sample ids at most log2(n);
  Kozachenko-Leonenko (``kl``, ``wkl``) is a difference of entropy estimates with no bound on
  arbitrary input: finiteness is its property here (its accuracy is tested on known MI);
* binning: I(X;T) <= min(H(X), H(T)) with the plug-in entropies of the binned symbols computed
  here independently (np.digitize + np.unique), and in fact equals H(X) + H(T) - H(X,T);
* binning with discrete labels: I(T;Y) <= H(Y);
* symmetry: binning exactly, ksg within a tolerance;
* config: validate -> YAML dump -> load gives the same dict and the same hash.

Kept small (few examples, small arrays) so the file runs in well under a minute. Examples are
random on every run (no derandomize, no example database): each run tries new inputs, and a
failure prints the ``@reproduce_failure`` blob that replays it.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import digamma

from infoplane.config import config_hash, load_config, validate_config
from infoplane.estimators import get_estimator
from infoplane.estimators.base import EstimatorRefused, accepts_sample_ids

pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    database=None, print_blob=True)
LN2 = math.log(2.0)
EULER_GAMMA = 0.5772156649015329


@st.composite
def continuous(draw, n: int | None = None, max_dim: int = 3, elements=None) -> np.ndarray:
    """A float64 array (n, d): Gaussian-like values, ties, constant columns, extremes."""
    n = n if n is not None else draw(st.integers(12, 60))
    d = draw(st.integers(1, max_dim))
    style = draw(st.sampled_from(["floats", "few_values", "constant_column"]))
    if elements is None:
        elements = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
    if style == "few_values":
        elements = st.sampled_from([-1.0, -0.25, 0.0, 0.5, 1.0])
    a = draw(arrays(np.float64, (n, d), elements=elements))
    if style == "constant_column":
        a[:, 0] = draw(st.floats(-5, 5, allow_nan=False))
    return a


@st.composite
def labels(draw, n: int, max_classes: int = 4) -> np.ndarray:
    k = draw(st.integers(1, max_classes))
    return draw(arrays(np.int64, (n,), elements=st.integers(0, k - 1)))


# ------------------------------------------------------------------ reference plug-in entropies


def _constant(a: np.ndarray) -> bool:
    return bool(np.all(a == a[0]))


def _row_symbols(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a = a[:, None] if a.ndim == 1 else a
    return np.unique(a, axis=0, return_inverse=True)[1].reshape(-1)


def _entropy_bits(sym: np.ndarray) -> float:
    _, counts = np.unique(sym, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / LN2)


def _binned(a: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """IDNNs convention: np.digitize on the interior edges of `bins` equal bins on [lo, hi]."""
    return np.digitize(a, np.linspace(lo, hi, bins + 1)[1:-1])


def _joint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _row_symbols(np.column_stack([_row_symbols(a), _row_symbols(b)]))


# ------------------------------------------------------------------------- never NaN


@SETTINGS
@given(data=st.data(), method=st.sampled_from(["binning", "adaptive_binning", "ksg", "kl", "wkl"]))
def test_continuous_pairs_give_finite_bits(data, method):
    x = data.draw(continuous())
    y = data.draw(continuous(n=len(x)))
    params = {"range": "auto"} if method == "binning" and data.draw(st.booleans()) else {}
    if method in ("ksg", "kl"):
        params["k"] = data.draw(st.integers(1, min(5, len(x) - 1)))
    if method == "wkl":  # joint dimension <= 6: one bias weight constraint, needs k >= 2
        params["k"] = data.draw(st.integers(2, min(10, len(x) - 1)))
    try:
        value = get_estimator(method, **params).estimate(x, y)
    except EstimatorRefused:  # kl / wkl on atoms, a lower-dimensional support or Cauchy-like tails
        assert method in ("kl", "wkl")
        return
    assert math.isfinite(value), (method, params, x, y)
    n = len(x)
    if method in ("binning", "adaptive_binning"):  # plug-in MI of at most n distinct symbols
        assert -1e-9 <= value <= math.log2(n) + 1e-9, (method, value)
    elif method == "ksg" and not (_constant(x) or _constant(y)):
        k = params["k"]
        lo = (digamma(k) - digamma(n)) / LN2
        hi = (digamma(k) + digamma(n) + 2 * EULER_GAMMA) / LN2
        assert lo - 1e-9 <= value <= hi + 1e-9, (value, lo, hi)


@SETTINGS
@given(data=st.data(), method=st.sampled_from(["binning", "adaptive_binning", "kde", "sp", "ksg", "kl", "wkl"]))
def test_layer_vs_labels_and_ids_give_finite_bits(data, method):
    t = data.draw(continuous())
    n = len(t)
    y = data.draw(labels(n))
    if method in ("kl", "wkl"):  # needs more than k samples of every class (wkl: more than 1)
        assume(np.bincount(y).min(initial=n) > 5 or len(np.unique(y)) == 1)
    est = get_estimator(method, k=min(5, n - 1)) if method == "wkl" else get_estimator(method)
    try:
        i_ty = est.estimate(t, y)
    except EstimatorRefused:  # kl / wkl on atoms, a lower-dimensional support or Cauchy-like tails
        assert method in ("kl", "wkl")
        return
    assert math.isfinite(i_ty), (method, t, y)
    h_y = _entropy_bits(y)
    if method in ("binning", "adaptive_binning"):
        assert -1e-9 <= i_ty <= h_y + 1e-9
    elif method == "sp":  # every draw's log posterior ratio is at most ln(n / n_c)
        assert i_ty <= h_y + 1e-9, (i_ty, h_y)
        i_xt = est.estimate(np.arange(n), t)  # ln n - (log-sum-exp holding the own term 1)
        assert math.isfinite(i_xt) and i_xt <= math.log2(n) + 1e-9
    elif method == "ksg":
        assert i_ty <= h_y + len(np.unique(y)) / (n * LN2) + 1e-9, (i_ty, h_y)
    if method in ("binning", "adaptive_binning", "kde"):
        i_xt = est.estimate(np.arange(n), t)  # sample ids: IDNNs' I(X;T)
        assert math.isfinite(i_xt) and i_xt >= -1e-12  # plug-in sums of p log p round (seen: -6e-16)


# ------------------------------------------------------------------------- binning bounds


@SETTINGS
@given(data=st.data(), bins=st.integers(1, 40))
def test_binning_mi_bounded_by_binned_entropies(data, bins):
    lo, hi = -1.0, 1.0
    elements = st.floats(-1.5, 1.5, allow_nan=False)
    x = data.draw(continuous(elements=elements))
    t = data.draw(continuous(n=len(x), elements=elements))
    mi = get_estimator("binning", bins=bins, range=(lo, hi)).estimate(x, t)
    sx, st_ = _row_symbols(_binned(x, bins, lo, hi)), _row_symbols(_binned(t, bins, lo, hi))
    hx, ht = _entropy_bits(sx), _entropy_bits(st_)
    assert 0.0 <= mi <= min(hx, ht) + 1e-9
    assert mi == pytest.approx(hx + ht - _entropy_bits(_joint(sx, st_)), abs=1e-9)


@SETTINGS
@given(data=st.data(), bins=st.integers(2, 40))
def test_binning_ids_give_binned_entropy(data, bins):
    t = data.draw(continuous(elements=st.floats(-1.5, 1.5, allow_nan=False)))
    ids = np.arange(len(t))
    mi = get_estimator("binning", bins=bins, range=(-1, 1)).estimate(ids, t)
    ht = _entropy_bits(_row_symbols(_binned(t, bins, -1.0, 1.0)))
    assert mi == pytest.approx(ht, abs=1e-9)
    assert mi <= math.log2(len(t)) + 1e-9


@SETTINGS
@given(data=st.data(), bins=st.integers(1, 40), method=st.sampled_from(["binning", "adaptive_binning"]))
def test_information_about_labels_at_most_label_entropy(data, bins, method):
    t = data.draw(continuous())
    y = data.draw(labels(len(t), max_classes=5))
    params = {"bins": bins, "range": "auto"} if method == "binning" else {"bins": bins}
    i_ty = get_estimator(method, **params).estimate(t, y)
    assert 0.0 <= i_ty <= _entropy_bits(y) + 1e-9


# ------------------------------------------------------------------------------ symmetry


@SETTINGS
@given(data=st.data(), bins=st.integers(1, 40))
def test_binning_is_exactly_symmetric(data, bins):
    x = data.draw(continuous())
    y = data.draw(continuous(n=len(x)))
    est = get_estimator("binning", bins=bins, range="auto")
    assert est.estimate(x, y) == est.estimate(y, x)
    ids = np.arange(len(x))
    assert est.estimate(ids, y) == est.estimate(y, ids)


@settings(max_examples=12, deadline=None, database=None, print_blob=True)
@given(n=st.integers(200, 400), rho=st.floats(-0.9, 0.9), seed=st.integers(0, 2**16))
def test_ksg_is_symmetric_within_tolerance(n, rho, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    est = get_estimator("ksg", k=5)
    assert est.estimate(x, y) == pytest.approx(est.estimate(y, x), abs=0.02)


# -------------------------------------------------------------------------- config round trip


@st.composite
def network_configs(draw) -> dict:
    est_choices = [
        st.fixed_dictionaries({"name": st.just("binning"), "bins": st.integers(1, 100),
                               "range": st.sampled_from(["auto", [-1, 1], [0.0, 2.5]])}),
        st.fixed_dictionaries({"name": st.just("adaptive_binning"), "bins": st.integers(2, 50)}),
        st.fixed_dictionaries({"name": st.just("kde"), "noise_variance": st.floats(1e-6, 1.0),
                               "bound": st.sampled_from(["upper", "lower"])}),
        st.fixed_dictionaries({"name": st.just("ksg"), "k": st.integers(1, 10), "seed": st.integers(0, 99)}),
        st.fixed_dictionaries(
            {"name": st.just("kl"), "k": st.integers(1, 10), "whiten": st.sampled_from([True, False, "joint"])}
        ),
    ]
    ests = draw(st.lists(st.one_of(est_choices), min_size=1, max_size=3))
    for i, e in enumerate(ests):
        e["label"] = f"{e['name']}_{i}"
    name = draw(st.sampled_from(["tishby_12bit", "digits"]))
    # X = sample ids on the 12-bit data: only estimators that accept ids (else a ConfigError)
    ids_ok = all(accepts_sample_ids(e["name"]) for e in ests)
    analysis = {} if name != "tishby_12bit" or ids_ok else {"analysis": {"x": "inputs"}}
    return {
        **analysis,
        "study": draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", fullmatch=True)),
        "seeds": draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=4, unique=True)),
        "dataset": {"name": name, "train_fraction": draw(st.floats(0.05, 1.0)),
                    "size": draw(st.one_of(st.none(), st.integers(20, 1000))),
                    "split_seed": draw(st.integers(0, 1000))},
        "model": {"kind": "mlp", "widths": draw(st.lists(st.integers(1, 64), min_size=1, max_size=6)),
                  "activation": draw(st.sampled_from(["tanh", "relu", "sigmoid", "leaky_relu", "linear"])),
                  "noise": draw(st.floats(0.0, 0.5))},
        "training": {"epochs": draw(st.integers(1, 10000)), "batch_size": draw(st.integers(1, 4096)),
                     "lr": draw(st.floats(1e-6, 1.0)), "optimizer": draw(st.sampled_from(["adam", "sgd"])),
                     "checkpoint_every": draw(st.integers(1, 500))},
        "record": {"num_epochs": draw(st.integers(1, 100)), "spacing": draw(st.sampled_from(["log", "linear"])),
                   "include_init": draw(st.booleans()), "samples": draw(st.sampled_from(["all", "eval"]))},
        "estimators": ests,
    }


@settings(max_examples=30, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=network_configs())
def test_config_round_trip(tmp_path, raw):
    original = copy.deepcopy(raw)
    cfg = validate_config(raw)
    assert raw == original, "validate_config must not modify its input"
    path = tmp_path / "round_trip.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    again = load_config(path)
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    # validating an already validated config changes nothing (defaults are idempotent)
    assert validate_config(again) == cfg


# ------------------------------------------------------------- regressions found by hypothesis


@pytest.mark.parametrize("column", [[1.11253693e-308] + [0.0] * 11, [-1e308, 1e308, 0.0] * 4],
                         ids=["subnormal-span", "overflowing-span"])
def test_binning_auto_range_on_extreme_finite_values(column):
    t = np.array(column)[:, None]
    value = get_estimator("binning", bins=30, range="auto").estimate(np.zeros((len(t), 1)), t)
    assert math.isfinite(value)
