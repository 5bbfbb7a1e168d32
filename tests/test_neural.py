"""MINE and InfoNCE: accuracy on a Gaussian with known MI, determinism, discrete inputs, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from infoplane.estimators import available, get_estimator
from infoplane.synthetic import correlated_gaussian

pytest.importorskip("torch")

STEPS = 400  # small budget: each fit takes ~1-2 s on one CPU thread


@pytest.fixture(scope="module")
def gauss():
    return correlated_gaussian(4000, 2, 1.0, 0)


def test_registered():
    assert {"mine", "infonce"} <= set(available())


@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_close_to_truth_and_not_far_above(name, gauss):
    x, y, true = gauss
    value, se = get_estimator(name, steps=STEPS).estimate_with_error(x, y)
    # a lower bound: near the truth, and not above it by more than sampling noise
    assert abs(value - true) < 0.25
    assert value < true + 3 * se + 0.05
    assert 0 < se < 0.2


@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_independent_gives_near_zero(name):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2000, 2)), rng.standard_normal((2000, 2))
    assert abs(get_estimator(name, steps=200).estimate(x, y)) < 0.15


@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_same_seed_same_value_other_seed_differs(name):
    x, y, _ = correlated_gaussian(600, 2, 1.0, 1)
    a = get_estimator(name, steps=60, seed=3).estimate_with_error(x, y)
    b = get_estimator(name, steps=60, seed=3).estimate_with_error(x, y)
    c = get_estimator(name, steps=60, seed=4).estimate_with_error(x, y)
    assert a == b
    assert a != c


@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_discrete_labels_one_hot(name):
    """I(X; C) for 4 well-separated classes: near H(C) = 2 bits; relabelling changes nothing big."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=3000)
    x = labels[:, None] * 6.0 + rng.standard_normal((3000, 1))
    v = get_estimator(name, steps=300).estimate(x, labels)
    assert 1.7 < v < 2.1
    v2 = get_estimator(name, steps=300).estimate(x, (labels * 7 + 100).astype(np.int64))
    assert v2 == pytest.approx(v, abs=1e-9)  # same symbols, same one-hot columns in the same order


@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_constant_side_gives_zero(name):
    x = np.random.default_rng(0).standard_normal((100, 2))
    assert get_estimator(name).estimate(x, np.ones((100, 1))) == 0.0
    assert get_estimator(name).estimate(np.zeros(100, dtype=np.int64), x) == 0.0


@pytest.mark.parametrize("name", ["mine", "infonce"])
@pytest.mark.parametrize(
    "params",
    [{"steps": 0}, {"batch_size": 1}, {"lr": 0.0}, {"lr": "fast"}, {"hidden": 2.5}, {"seed": -1}, {"epochs": 3}],
)
def test_bad_params(name, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        get_estimator(name, **params)


@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_bad_inputs(name):
    est = get_estimator(name, steps=5)
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="same number of samples"):
        est.estimate(x, np.zeros((9, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        est.estimate(np.full((10, 2), np.nan), x)
    with pytest.raises(ValueError, match="at least 4 samples"):
        est.estimate(np.arange(3.0), np.arange(3.0))
    with pytest.raises(ValueError, match="distinct symbols"):
        est.estimate(np.arange(2000), np.zeros(2000) + np.arange(2000) % 3)


def test_import_does_not_import_torch():
    code = "import sys, infoplane.estimators; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_network_study_on_12bit_ids_fails_at_config_time_and_runs_on_inputs(tmp_path, tiny_config):
    """The 12-bit study's X defaults to the 4096 sample ids, which the neural estimators cannot
    take (each id once): validating the config says so and names the fix; with
    ``analysis.x: inputs`` the estimate job gives finite estimates for every estimator."""
    from test_estimation import write_fake_store

    from infoplane.config import ConfigError, validate_config
    from infoplane.estimation import make_tasks, run_tasks

    tiny_config["estimators"] = [
        {"name": "binning", "bins": 30, "range": [-1, 1]},
        {"name": "mine", "steps": 30},
        {"name": "infonce", "steps": 30},
    ]
    with pytest.raises(ConfigError, match=r"estimators\[1\]: 'mine' cannot estimate I\(X;T\) with X = sample ids "
                       r"\(analysis.x 'auto' means ids for tishby_12bit .*set analysis.x: inputs .*binning"):
        validate_config(tiny_config)
    tiny_config["analysis"] = {"x": "ids"}
    with pytest.raises(ConfigError, match=r"'mine' .*\(analysis.x is 'ids'"):
        validate_config(tiny_config)
    tiny_config["analysis"] = {"x": "inputs"}
    cfg = validate_config(tiny_config)
    store = write_fake_store(tmp_path / "s.zarr", epochs=(0, 1), layers=(("1", 3),))
    df = run_tasks(make_tasks(store, cfg, 0), progress=False)
    assert sorted(set(df["estimator"])) == ["binning", "infonce", "mine"]
    assert len(df) == 3 * 2
    assert np.isfinite(df[["I_XT", "I_TY"]].to_numpy()).all()
    # 30 training steps: a neural bound may come out below zero by more than its error; the
    # table then flags the row instead of passing the number off as an estimate
    assert set(df["status"]) <= {"ok", "unreliable"}
    flagged = df[df["status"] == "unreliable"]
    assert (flagged[["I_XT", "I_TY"]].min(axis=1) < 0).all()
    assert (df.loc[df["estimator"] == "binning", "status"] == "ok").all()


@pytest.mark.parametrize("name", ["mine", "infonce"])
def test_12bit_inputs_as_vectors(name):
    """On the 12-bit input vectors (what analysis.x: inputs passes) a deterministic 3-unit tanh
    layer carries several bits; the neural bounds see a clear positive MI, the ids are refused."""
    from infoplane.datasets import load_dataset
    from infoplane.estimators.base import EstimatorRefused

    data = load_dataset("tishby_12bit")
    t = np.tanh(data.x @ np.random.default_rng(0).normal(size=(12, 3)))
    assert get_estimator(name, steps=300).estimate(data.x, t) > 1.0
    with pytest.raises(EstimatorRefused, match=r"4096 distinct symbols.*analysis.x: inputs"):
        get_estimator(name, steps=5).estimate(np.arange(4096), t)
