"""Activation store: layout, chunking, completeness, corruption, config hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infoplane.store import (
    check_store,
    create_store,
    finalize_store,
    layer_names,
    open_store,
    write_epoch,
)

LAYERS = {"1": 3, "2": 2, "softmax": 2}
EPOCHS = np.array([0, 1, 5, 10])
N = 6


def make_store(path: Path, written=(0, 2), finalize: bool = True, chash: str = "abc123") -> dict:
    rng = np.random.default_rng(0)
    create_store(
        path,
        layers=LAYERS,
        epochs=EPOCHS,
        sample_id=np.arange(10, 10 + N),
        label=np.array([0, 1, 0, 1, 1, 0]),
        is_train=np.array([True, True, False, True, False, True]),
        inputs=rng.random((N, 2, 2)).astype(np.float32),
        attrs={"config_hash": chash, "seed": 3, "study": "s", "discrete_inputs": False, "n_classes": 2},
    )
    acts = {}
    for i in written:
        acts[i] = {name: rng.standard_normal((N, u)).astype(np.float32) for name, u in LAYERS.items()}
        write_epoch(path, i, acts[i], {"train_loss": 0.5 + i, "train_acc": 0.9, "eval_loss": 0.7, "eval_acc": 0.8})
    if finalize:
        # A finished run writes every recorded epoch; one that stopped early is "diverged".
        if len(written) == len(EPOCHS):
            finalize_store(path)
        else:
            finalize_store(path, status="diverged", reason="non-finite loss (test store)")
    return acts


def test_layout_chunks_and_attrs(tmp_path):
    path = tmp_path / "s.zarr"
    acts = make_store(path)
    ds = open_store(path)
    assert layer_names(ds) == ["1", "2", "softmax"]
    assert ds.attrs["complete"] is True and ds.attrs["status"] == "diverged" and ds.attrs["seed"] == 3
    assert ds["act_1"].dims == ("epoch", "sample", "unit_1")
    assert ds["act_softmax"].shape == (4, N, 2) and ds["act_softmax"].dtype == np.float32
    for name, units in LAYERS.items():
        assert tuple(ds[f"act_{name}"].encoding["chunks"]) == (1, N, units)
    np.testing.assert_array_equal(ds.epoch.values, EPOCHS)
    assert ds.epoch.dtype == np.int64 and ds.sample.dtype == np.int64
    np.testing.assert_array_equal(ds.sample_id.values, np.arange(10, 16))
    assert ds.is_train.dtype == bool and ds.label.dtype == np.int64
    assert ds.inputs.shape == (N, 4) and ds.inputs.dims == ("sample", "input_unit")
    np.testing.assert_array_equal(ds["act_2"].isel(epoch=2).values, acts[2]["2"])
    assert np.isnan(ds["act_2"].isel(epoch=1).values).all()  # never written
    np.testing.assert_array_equal(ds.train_loss.values, [0.5, np.nan, 2.5, np.nan])
    assert ds.train_loss.dtype == np.float64


def test_region_rewrite_replaces_values(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, written=(1,), finalize=False)
    new = {name: np.full((N, u), 7.0, np.float32) for name, u in LAYERS.items()}
    write_epoch(path, 1, new, {"train_loss": 9.0})
    finalize_store(path, status="diverged", reason="non-finite loss at epoch 3")
    ds = open_store(path)
    assert (ds["act_1"].isel(epoch=1).values == 7.0).all()
    assert ds.train_loss.values[1] == 9.0
    assert ds.attrs["status"] == "diverged" and "epoch 3" in ds.attrs["reason"]


def test_incomplete_store_is_rejected(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, finalize=False)
    with pytest.raises(ValueError, match=f"{path}.*incomplete"):
        open_store(path)
    with pytest.raises(ValueError, match="incomplete"):
        check_store(path)


def test_not_a_store(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path / 'nothing'}.*not a Zarr"):
        open_store(tmp_path / "nothing")
    (tmp_path / "file.zarr").write_text("hello")
    with pytest.raises(ValueError, match="not a Zarr"):
        open_store(tmp_path / "file.zarr")


def test_corrupt_chunk_names_the_file(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path)
    chunk = path / "act_1" / "c" / "2" / "0" / "0"
    assert chunk.is_file()
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2 :] = b"\x00" * (len(raw) - len(raw) // 2)
    chunk.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"act_1/c/2/0/0.*corrupt"):
        open_store(path)
    open_store(path, verify=False)  # lazy open still works when asked not to verify


def test_missing_chunk_of_a_finished_store_names_the_file(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, written=tuple(range(len(EPOCHS))))
    assert open_store(path).attrs["status"] == "ok"
    chunk = path / "act_2" / "c" / "1" / "0" / "0"
    chunk.unlink()
    with pytest.raises(ValueError, match=r"act_2/c/1/0/0 is missing from a complete store"):
        open_store(path)


def test_check_store_config_hash(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, chash="aaaa")
    check_store(path, "aaaa")
    check_store(path)
    with pytest.raises(ValueError, match="made by config aaaa, expected bbbb; delete it or rerun"):
        check_store(path, "bbbb")


def test_create_store_validates_sizes(tmp_path):
    with pytest.raises(ValueError, match="label has 2 rows"):
        create_store(
            tmp_path / "x.zarr",
            layers=LAYERS,
            epochs=EPOCHS,
            sample_id=np.arange(3),
            label=np.zeros(2, int),
            is_train=np.zeros(3, bool),
            inputs=np.zeros((3, 1)),
            attrs={},
        )
