"""Training: recording schedule, resumability (bit-identical), divergence, metrics."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infoplane.datasets import train_eval_split
from infoplane.store import open_store
from infoplane.training import FAIL_AT_EPOCH_ENV, METRIC_COLUMNS, TrainingInterrupted, record_epochs, train_run

BASE_CFG = {
    "study": "tiny",
    "seeds": [0],
    "dataset": {"name": "tishby_12bit", "root": None, "size": None, "train_fraction": 0.8, "split_seed": 0},
    "model": {"kind": "mlp", "widths": [6, 4], "activation": "tanh", "init": "truncated_normal", "noise": 0.0, "pool": True},
    "training": {"epochs": 6, "batch_size": 256, "lr": 0.01, "optimizer": "adam", "checkpoint_every": 1, "threads": 1},
    "record": {"num_epochs": 4, "spacing": "log", "include_init": True, "samples": "all"},
}


def cfg_with(**sections) -> dict:
    cfg = copy.deepcopy(BASE_CFG)
    for section, values in sections.items():
        cfg[section].update(values)
    return cfg


def run(cfg: dict, where: Path, seed: int = 0) -> tuple[Path, Path]:
    store, csv = where / "store.zarr", where / "metrics.csv"
    train_run(cfg, seed, store, csv, where / "work", progress=False)
    return store, csv


# ---------------------------------------------------------------------------------- schedule


def test_record_epochs_log_matches_idnns():
    rec = record_epochs(10000, 30, "log")
    assert rec[0] == 0 and rec[1] == 1 and rec[-1] == 10000
    assert np.all(np.diff(rec) > 0)
    expected = np.unique(np.floor(np.logspace(0, np.log2(10000), 30, base=2) + 1e-9).astype(int))
    np.testing.assert_array_equal(rec[1:], expected)
    np.testing.assert_array_equal(record_epochs(8, 4, "log"), [0, 1, 2, 4, 8])
    np.testing.assert_array_equal(record_epochs(8, 4, "log", include_init=False), [1, 2, 4, 8])


def test_record_epochs_linear():
    np.testing.assert_array_equal(record_epochs(10, 6, "linear"), [0, 2, 4, 6, 8, 10])
    np.testing.assert_array_equal(record_epochs(10, 6, "linear", include_init=False), [2, 4, 6, 8, 10])
    np.testing.assert_array_equal(record_epochs(3, 50, "linear"), [0, 1, 2, 3])  # de-duplicated


@pytest.mark.parametrize(
    "args, match", [((0, 5, "log"), "epochs=0"), ((5, 0, "log"), "num=0"), ((5, 3, "cubic"), "spacing='cubic'")]
)
def test_record_epochs_errors(args, match):
    with pytest.raises(ValueError, match=match):
        record_epochs(*args)


# ---------------------------------------------------------------------------------- runs


def test_train_run_outputs(tmp_path):
    store, csv = run(BASE_CFG, tmp_path)
    ds = open_store(store)
    assert ds.attrs["status"] == "ok" and ds.attrs["reason"] == "" and ds.attrs["complete"] is True
    assert ds.attrs["seed"] == 0 and ds.attrs["dataset"] == "tishby_12bit" and ds.attrs["discrete_inputs"] is True
    assert ds.attrs["n_classes"] == 2 and ds.attrs["layers"] == ["1", "2", "softmax"]
    from infoplane.config import config_hash

    assert ds.attrs["config_hash"] == config_hash(BASE_CFG)
    for key in ("infoplane_version", "torch_version", "numpy_version", "xarray_version", "zarr_version"):
        assert key in ds.attrs
    np.testing.assert_array_equal(ds.epoch.values, [0, 1, 3, 6])
    assert ds["act_1"].shape == (4, 4096, 6) and ds["act_softmax"].shape == (4, 4096, 2)
    assert not np.isnan(ds["act_2"].values).any()
    np.testing.assert_array_equal(ds.sample_id.values, np.arange(4096))
    tr, _ = train_eval_split(4096, 0.8, 0)
    assert ds.is_train.values.sum() == len(tr) and ds.is_train.values[tr].all()
    assert np.abs(ds["act_1"].values).max() < 1  # tanh
    m = pd.read_csv(csv)
    assert list(m.columns) == list(METRIC_COLUMNS)
    assert m.epoch.tolist() == list(range(7)) and (m.seed == 0).all()
    assert m.train_loss.iloc[-1] < m.train_loss.iloc[0]  # it learns
    np.testing.assert_array_equal(ds.train_loss.values, m.train_loss.values[[0, 1, 3, 6]])
    # the store's softmax is the network's output: its accuracy is the recorded accuracy
    pred = ds["act_softmax"].isel(epoch=-1).values.argmax(1)
    assert (pred[tr] == ds.label.values[tr]).mean() == pytest.approx(m.train_acc.iloc[-1])
    work = tmp_path / "work"
    assert not (work / "checkpoint.pt").exists() and not (work / "activations.partial.zarr").exists()


def _assert_same_run(a: tuple[Path, Path], b: tuple[Path, Path]) -> None:
    da, db = open_store(a[0]), open_store(b[0])
    for var in da.data_vars:
        np.testing.assert_array_equal(da[var].values, db[var].values, err_msg=var)
    assert a[1].read_text() == b[1].read_text()


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_resumed_run_is_bit_identical(tmp_path, monkeypatch, caplog, noise):
    cfg = cfg_with(model={"noise": noise})
    straight = run(cfg, tmp_path / "a")
    monkeypatch.setenv(FAIL_AT_EPOCH_ENV, "3")
    with pytest.raises(TrainingInterrupted):
        run(cfg, tmp_path / "b")
    assert (tmp_path / "b" / "work" / "checkpoint.pt").is_file()
    assert not (tmp_path / "b" / "store.zarr").exists()
    monkeypatch.delenv(FAIL_AT_EPOCH_ENV)
    with caplog.at_level(logging.INFO, logger="infoplane.training"):
        resumed = run(cfg, tmp_path / "b")
    assert "resuming from the checkpoint of epoch 3" in caplog.text
    _assert_same_run(straight, resumed)
    # and a different seed gives a different network
    other = run(cfg, tmp_path / "c", seed=1)
    assert not np.array_equal(open_store(straight[0])["act_1"].values, open_store(other[0])["act_1"].values)


def test_changed_config_starts_fresh(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(FAIL_AT_EPOCH_ENV, "4")
    with pytest.raises(TrainingInterrupted):
        run(BASE_CFG, tmp_path / "b")
    monkeypatch.delenv(FAIL_AT_EPOCH_ENV)
    changed = cfg_with(training={"lr": 0.02})
    with caplog.at_level(logging.INFO, logger="infoplane.training"):
        resumed = run(changed, tmp_path / "b")  # same workdir, other config hash: must not resume
    assert "starting fresh" in caplog.text and "resuming" not in caplog.text
    straight = run(changed, tmp_path / "a")
    _assert_same_run(straight, resumed)


def test_divergence_is_recorded_not_raised(tmp_path):
    cfg = cfg_with(model={"activation": "relu"}, training={"optimizer": "sgd", "lr": 1e25})
    store, csv = run(cfg, tmp_path)
    ds = open_store(store)
    assert ds.attrs["status"] == "diverged" and ds.attrs["complete"] is True
    m = pd.read_csv(csv)
    last = int(m.epoch.iloc[-1])
    assert ds.attrs["reason"] == f"non-finite loss at epoch {last}"
    assert last < 6 and not np.isfinite(m.train_loss.iloc[-1])
    assert np.isfinite(ds["act_1"].isel(epoch=0).values).all()  # the initialisation was recorded
    assert np.isnan(ds["act_1"].sel(epoch=6).values).all()  # never reached


def test_record_eval_split_only(tmp_path):
    cfg = cfg_with(dataset={"name": "digits", "size": 200}, record={"samples": "eval", "num_epochs": 2},
                   model={"kind": "conv", "pool": False, "init": "default"}, training={"epochs": 2})
    store, _ = run(cfg, tmp_path)
    ds = open_store(store)
    _, ev = train_eval_split(200, 0.8, 0)
    np.testing.assert_array_equal(ds.sample_id.values, ev)
    assert not ds.is_train.values.any()
    assert ds.attrs["layers"] == ["1", "2", "3", "4", "5", "log_softmax", "softmax"]
    assert ds["act_3"].shape == (3, 40, 32 * 2 * 2) and ds.inputs.shape == (40, 64)
    np.testing.assert_allclose(np.exp(ds["act_log_softmax"].values), ds["act_softmax"].values, rtol=1e-5)
