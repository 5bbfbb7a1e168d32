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


# ------------------------------------------------------------------------------------------
# Direct chunk writes (write_epochs' fast path) against Zarr's own region writes.

WEIGHT_LAYERS = ["1", "2", "logits"]


def _create(path: Path) -> None:
    rng = np.random.default_rng(1)
    create_store(
        path,
        layers=LAYERS,
        epochs=EPOCHS,
        sample_id=np.arange(N),
        label=np.arange(N) % 2,
        is_train=np.ones(N, bool),
        inputs=rng.random((N, 3)).astype(np.float32),
        attrs={"config_hash": "abc", "seed": 0, "study": "s", "discrete_inputs": False, "n_classes": 2},
        weight_layers=WEIGHT_LAYERS,
    )


def _epochs_data(k: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """k epochs of activations (k, N, units) and metrics, the SGD gradients all NaN in epoch 0
    (as training writes them: no training epoch precedes epoch 0) and one NaN metric."""
    rng = np.random.default_rng(seed)
    acts = {name: np.tanh(rng.standard_normal((k, N, u))).astype(np.float32) for name, u in LAYERS.items()}
    metrics = {var: rng.random(k) for var in ("train_loss", "train_acc", "eval_loss", "eval_acc")}
    metrics["eval_acc"][-1] = np.nan
    for var in ("grad_mean", "grad_std", "weight_norm"):
        metrics[var] = rng.random((k, len(WEIGHT_LAYERS)))
    metrics["grad_mean"][0] = metrics["grad_std"][0] = np.nan
    return acts, metrics


def _tree(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


def _write_both(tmp_path: Path, writes, monkeypatch) -> tuple[Path, Path]:
    """Apply ``writes`` ((start, activations, metrics), ...) to a store through the direct
    path alone (zarr's writes disabled) and to another through zarr alone."""
    import infoplane.store as store_mod
    from infoplane.store import write_epochs

    direct, via_zarr = tmp_path / "direct.zarr", tmp_path / "zarr.zarr"
    _create(direct)
    _create(via_zarr)
    with monkeypatch.context() as m:
        m.setattr(store_mod, "_write_zarr", lambda *a: pytest.fail("a write of this layout went through zarr"))
        for start, acts, metrics in writes:
            write_epochs(direct, start, acts, metrics)
    for start, acts, metrics in writes:
        write_epochs(via_zarr, start, acts, metrics, direct=False)
    return direct, via_zarr


def test_direct_writes_are_byte_identical_to_zarr(tmp_path, monkeypatch):
    a1, m1 = _epochs_data(2, seed=0)
    a2, m2 = _epochs_data(2, seed=1)
    nan_acts = {name: np.full((1, N, u), np.nan, np.float32) for name, u in LAYERS.items()}
    writes = [
        (0, a1, m1),  # epochs 0, 1 (SGD gradients of epoch 0 all NaN: not stored)
        (2, a2, m2),  # epochs 2, 3
        (1, {"1": a2["1"][:1]}, {"train_loss": np.array([7.0])}),  # rewrite one layer of epoch 1
        (3, nan_acts, {"grad_mean": np.full((1, 3), np.nan)}),  # all fill value: files removed
    ]
    direct, via_zarr = _write_both(tmp_path, writes, monkeypatch)
    assert not (direct / "grad_mean" / "c" / "0").exists() and not (direct / "act_1" / "c" / "3" / "0" / "0").exists()
    assert (direct / "grad_std" / "c" / "1" / "0").is_file()
    dirs = [sorted(str(d.relative_to(p)) for d in p.rglob("*") if d.is_dir()) for p in (direct, via_zarr)]
    assert dirs[0] == dirs[1]
    got, want = _tree(direct), _tree(via_zarr)
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], key
    assert not [k for k in got if k.endswith(".partial")]


def test_direct_store_passes_checks_and_reads_back(tmp_path):
    import xarray as xr
    import zarr

    from infoplane.store import EPOCH_VARS, SGD_VARS, StoreReader, _direct_layout, write_epochs

    path = tmp_path / "s.zarr"
    _create(path)
    acts, metrics = _epochs_data(len(EPOCHS), seed=2)
    group = zarr.open_group(str(path), mode="r")
    for name, _ in group.arrays():  # the one layout test of the fast writer and the fast reader
        per_epoch = name.startswith("act_") or name in (*EPOCH_VARS, *SGD_VARS)
        assert (_direct_layout(str(path / name)) is not None) == per_epoch, name
    write_epochs(path, 0, acts, metrics)
    finalize_store(path)
    check_store(path, "abc")
    ds = open_store(path)  # verifies every chunk (checksums) and requires every act_* chunk
    for name in LAYERS:
        np.testing.assert_array_equal(ds[f"act_{name}"].values, acts[name])
        np.testing.assert_array_equal(StoreReader(path).layer_epochs(name, 0, len(EPOCHS)), acts[name])
    for var, vals in metrics.items():
        np.testing.assert_array_equal(ds[var].values, vals)
    plain = xr.open_zarr(path, consolidated=False)
    np.testing.assert_array_equal(plain["act_softmax"].values, acts["softmax"])


def test_other_layouts_are_written_through_zarr(tmp_path, monkeypatch):
    import infoplane.store as store_mod
    from infoplane.store import _direct_layout, write_epochs

    path = tmp_path / "s.zarr"
    monkeypatch.setattr(store_mod, "_compressors", lambda: [])  # bytes codec alone: not the layout
    _create(path)
    assert _direct_layout(str(path / "act_1")) is None
    assert _direct_layout(str(path / "train_loss")) is not None
    assert _direct_layout(str(path / "sample_id")) is None  # int64, one chunk of all samples
    called = []
    real = store_mod._write_zarr
    monkeypatch.setattr(store_mod, "_write_zarr", lambda p, s, v: (called.append(sorted(v)), real(p, s, v)))
    acts, metrics = _epochs_data(2, seed=3)
    write_epochs(path, 1, acts, metrics)
    assert called == [sorted(f"act_{name}" for name in LAYERS)]
    finalize_store(path, status="diverged", reason="test")
    ds = open_store(path)
    np.testing.assert_array_equal(ds["act_2"].values[1:3], acts["2"])
    np.testing.assert_array_equal(ds["weight_norm"].values[1:3], metrics["weight_norm"])
    assert np.isnan(ds["act_2"].values[0]).all()


def test_direct_write_failure_keeps_the_old_chunk(tmp_path, monkeypatch):
    """A write that fails half-way through a chunk leaves the chunk as it was and no temporary
    file (the file is replaced in one step, as Zarr's local store does)."""
    import infoplane.store as store_mod
    from infoplane.store import write_epochs

    path = tmp_path / "s.zarr"
    _create(path)
    acts, metrics = _epochs_data(1, seed=4)
    write_epochs(path, 0, acts, metrics)
    before = _tree(path)

    def torn(file: str, data) -> None:
        with open(file, "wb") as fh:
            fh.write(bytes(data)[: len(data) // 2])
        raise OSError("disk full (test)")

    monkeypatch.setattr(store_mod, "_write_file", torn)
    new, _ = _epochs_data(1, seed=5)
    with pytest.raises(OSError, match="disk full"):
        write_epochs(path, 0, new, {})
    assert _tree(path) == before
