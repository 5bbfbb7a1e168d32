"""The estimation stage: slab tasks covering every (layer, epoch) block, tables identical to the
per-block reference, serially and on Dask, recovery from a killed Dask worker, diverged,
degenerate, damaged and foreign stores."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from infoplane.config import config_hash, validate_config
from infoplane.estimation import (
    collect_tables,
    estimate_slab,
    estimate_stores,
    layer_run_range,
    make_tasks,
    run_stage,
    run_tasks,
    tidy_table,
    to_dataset,
)
from infoplane.estimators import get_estimator
from infoplane.estimators.base import UnreliableEstimateWarning
from infoplane.geometry import class_clustering
from infoplane.tables import GEOMETRY_COLUMNS, MI_COLUMNS


def write_fake_store(path: Path, n: int = 512, epochs=(0, 1, 3, 7), layers=(("1", 5), ("2", 3)),
                     status: str = "ok", poison: tuple[str, int] | None = None, constant: str | None = None,
                     seed: int = 0, chash: str = "", is_train: np.ndarray | None = None) -> Path:
    """A store written with the store API (one checksummed chunk per (layer, epoch)) holding
    random tanh activations (no training); every sample is a train sample unless ``is_train``
    says otherwise."""
    import zarr

    from infoplane.store import create_store, finalize_store

    rng = np.random.default_rng(seed)
    acts = {}
    for name, width in layers:
        a = np.tanh(rng.normal(size=(len(epochs), n, width)) * 2).astype(np.float32)
        if constant == name:
            a[:] = 0.25
        if poison and poison[0] == name:
            a[poison[1], :10] = np.nan  # not the whole chunk: an all-NaN chunk is never written
        acts[name] = a
    create_store(path, layers={name: w for name, w in layers}, epochs=np.asarray(epochs),
                 sample_id=np.arange(n), label=(rng.random(n) > 0.5).astype(np.int64),
                 is_train=np.ones(n, bool) if is_train is None else is_train, inputs=rng.normal(size=(n, 4)),
                 attrs={"discrete_inputs": True, "seed": seed, "config_hash": chash})
    group = zarr.open_group(str(path), mode="r+")
    for name, a in acts.items():
        group[f"act_{name}"][:] = a
    finalize_store(path, status, "" if status == "ok" else "non-finite loss at epoch 2")
    return path


def per_block_reference(store: Path, cfg: dict) -> pd.DataFrame:
    """The stage as it was before slab tasks: the store opened with xarray, one (layer, epoch)
    chunk read at a time, two ``estimate_with_error`` calls per estimator (the reference the
    slab tasks must reproduce float for float)."""
    from infoplane.config import estimator_label, estimator_params

    ds = xr.open_zarr(store, consolidated=False)
    y = ds["label"].values.astype(np.int64)
    x = ds["sample_id"].values.astype(np.int64) if cfg["analysis"].get("x", "auto") != "inputs" else \
        ds["inputs"].values.reshape(len(y), -1)
    rows = []
    for li, layer in enumerate(ds.attrs["layers"]):
        for ei, epoch in enumerate(int(e) for e in ds["epoch"].values):
            t = ds[f"act_{layer}"].isel(epoch=ei).values
            for e in cfg["estimators"]:
                est = get_estimator(e["name"], **estimator_params(e))
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    (i_xt, se_xt), (i_ty, se_ty) = est.estimate_with_error(x, t), est.estimate_with_error(t, y)
                flagged = [str(w.message) for w in caught if issubclass(w.category, UnreliableEstimateWarning)]
                status, reason = ("unreliable", "; ".join(flagged)) if flagged else ("ok", "")
                rows.append((ds.attrs["seed"], layer, li, epoch, "all", estimator_label(e), i_xt, i_ty, se_xt,
                             se_ty, status, reason))
    return tidy_table(rows)


@pytest.fixture
def cfg(tiny_config):
    tiny_config["estimators"] = [{"name": "binning", "bins": 30, "range": [-1, 1]},
                                 {"name": "binning", "label": "coarse", "bins": 4, "range": [-1, 1]}]
    return validate_config(tiny_config)


def test_tasks_cover_every_block_once(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr", seed=3)
    whole = make_tasks(store, cfg)
    assert [(t.layer, t.epochs) for t in whole] == [("1", (0, 1, 3, 7)), ("2", (0, 1, 3, 7))]
    assert {t.seed for t in whole} == {3}, "the seed comes from the store's attrs"
    # 512 x 5 float32 = 10240 bytes per epoch of layer 1: slabs of 2 epochs, layer 2 (6144) of 3
    slabs = make_tasks(store, cfg, slab_bytes=2 * 10240)
    assert [(t.layer, t.start, t.epochs) for t in slabs] == [
        ("1", 0, (0, 1)), ("1", 2, (3, 7)), ("2", 0, (0, 1, 3)), ("2", 3, (7,))]
    df = run_tasks(slabs, progress=False)
    assert list(df.columns) == list(MI_COLUMNS)
    assert len(df) == 2 * 4 * 2
    assert set(df["estimator"]) == {"binning", "coarse"}
    assert (df["seed"] == 3).all()
    # x are unique ids: I(X;T) = H(T) <= log2(n); I(T;Y) <= H(Y) <= 1 bit
    assert df["I_XT"].between(0, np.log2(512) + 1e-9).all()
    assert df["I_TY"].between(0, 1).all()
    coarse = df[df["estimator"] == "coarse"]
    fine = df[df["estimator"] == "binning"]
    assert (coarse["I_XT"].to_numpy() <= fine["I_XT"].to_numpy() + 1e-12).all(), "coarser bins keep less"


@pytest.mark.parametrize("slab_bytes", [1, 2 * 10240, 2**30])
@pytest.mark.parametrize("x_mode, other", [("auto", {"name": "kde"}), ("inputs", {"name": "ksg", "k": 3})])
def test_slab_tasks_equal_the_per_block_reference(tmp_path, cfg, slab_bytes, x_mode, other):
    """Same rows, same order, same floats as one xarray read and two estimator calls per block
    (binning: one binning pass per layer serves both; kde/ksg: two calls as before)."""
    cfg["estimators"].append(other)
    cfg["analysis"]["x"] = x_mode
    store = write_fake_store(tmp_path / "s.zarr", n=300, seed=5)
    got = run_tasks(make_tasks(store, cfg, slab_bytes=slab_bytes), progress=False)
    pd.testing.assert_frame_equal(got, per_block_reference(store, cfg), check_exact=True)


def test_layer_selection_and_unknown_layer(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr")
    cfg["analysis"]["layers"] = ["2"]
    assert {t.layer for t in make_tasks(store, cfg)} == {"2"}
    cfg["analysis"]["layers"] = ["7"]
    with pytest.raises(ValueError, match=r"analysis.layers: '7' is not a layer of .*s.zarr; its layers are 1, 2"):
        make_tasks(store, cfg)


def test_non_finite_layer_is_marked_not_crashing(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr", poison=("2", 3))
    df = run_tasks(make_tasks(store, cfg), progress=False)
    bad = df[(df["layer"] == "2") & (df["epoch"] == 7)]
    assert (bad["status"] == "diverged").all()
    assert (bad["reason"] == "30 non-finite activations in layer 2 at epoch 7").all()
    assert (df.drop(bad.index)["status"] == "ok").all()


def test_constant_layer_gives_zero_bits(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr", constant="1")
    df = run_tasks(make_tasks(store, cfg), progress=False)
    dead = df[df["layer"] == "1"]
    assert np.allclose(dead[["I_XT", "I_TY"]].to_numpy(), 0.0)


def test_collect_and_netcdf(tmp_path, cfg):
    paths = []
    for seed in (0, 1):
        store = write_fake_store(tmp_path / f"s{seed}.zarr", seed=seed)
        df = run_tasks(make_tasks(store, cfg), progress=False)
        p = tmp_path / f"mi{seed}.csv"
        df.to_csv(p, index=False)
        paths.append(p)
    table = collect_tables(paths)
    assert len(table) == 2 * 16
    ds = to_dataset(table, {"study": "t"})
    assert dict(ds.sizes) == {"estimator": 2, "seed": 2, "layer": 2, "epoch": 4, "split": 1}
    assert ds["I_XT"].attrs["units"] == "bits"
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"seed": [0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="bad.csv: not an MI table; missing column 'layer'"):
        collect_tables([bad])


# --- Dask: identical results, and a worker killed mid-computation --------------------------------

def _kill_worker_once(task):
    """Estimate the slab, but the first time the slab holding (layer 2, epoch 3) runs,
    hard-kill the worker process."""
    marker = Path(task.extra["kill_marker"])
    if task.layer == "2" and 3 in task.epochs:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
            os.close(fd)
            os._exit(1)  # SIGKILL-like: the worker dies without cleanup mid-task
        except FileExistsError:
            pass
    return estimate_slab(task)


@pytest.fixture
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        yield client


def test_dask_result_equals_serial(tmp_path, cfg, dask_client):
    store = write_fake_store(tmp_path / "s.zarr")
    tasks = make_tasks(store, cfg, slab_bytes=10240)  # one task per (layer, epoch)
    serial = run_tasks(tasks, progress=False)
    parallel = run_tasks(tasks, dask_client, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)


def test_killed_worker_is_retried_and_result_is_complete(tmp_path, cfg, dask_client):
    import dataclasses

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    store = write_fake_store(tmp_path / "s.zarr")
    tasks = make_tasks(store, cfg, slab_bytes=2 * 10240)
    serial = run_tasks(tasks, progress=False)
    faulty = [dataclasses.replace(t, extra={"kill_marker": str(marker)}) for t in tasks]
    recovered = run_tasks(faulty, dask_client, progress=False, func=_kill_worker_once)
    assert marker.exists(), "the fault was injected: one worker died"
    pd.testing.assert_frame_equal(serial, recovered)


def test_local_cluster_workers_use_one_library_thread(monkeypatch):
    """A Snakemake job with `threads: N` exports OMP_NUM_THREADS=N; the Dask worker processes
    must not inherit it (N threads in each of N processes oversubscribe the cores)."""
    from infoplane.parallel import dask_client

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with dask_client(2) as client:
        env = client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS")))
    assert list(env.values()) == [("1", "1")] * 2
    with dask_client(1) as client:
        assert client is None, "one worker runs serially in-process"


def test_estimator_refusal_is_a_row_with_the_reason(tmp_path, tiny_config):
    """wkl refuses a 20-unit layer of 512 samples (too few for its dimension): the block gets NaN with status
    'refused' and the estimator's reason; the other estimator's row of the block is estimated."""
    tiny_config["estimators"] = [{"name": "wkl", "k": 10}, {"name": "ksg", "k": 5}]
    tiny_config["analysis"] = {"x": "inputs"}  # wkl cannot take sample ids (a config error)
    cfg = validate_config(tiny_config)
    store = write_fake_store(tmp_path / "s.zarr", layers=(("1", 20),))
    tasks = [t for t in make_tasks(store, cfg, slab_bytes=1) if t.epochs == (1,)]
    table = run_tasks(tasks, progress=False).set_index("estimator")
    assert table.loc["wkl", "status"] == "refused"
    assert table.loc["wkl", "reason"].startswith("wkl: ") and "ksg" in table.loc["wkl", "reason"]
    assert np.isnan(table.loc["wkl", ["I_XT", "I_TY"]].astype(float)).all()
    assert table.loc["ksg", "status"] == "ok" and np.isfinite(table.loc["ksg", "I_XT"])


def test_other_estimator_errors_name_the_layer_and_epoch(tmp_path, tiny_config, monkeypatch):
    """An estimator error that is not a refusal (a bug, a bad input) still stops the job and
    says where it happened."""
    from infoplane.estimators.knn import KSGEstimator

    def broken(self, x, y):
        raise ValueError("boom")

    monkeypatch.setattr(KSGEstimator, "estimate_with_error", broken)
    tiny_config["estimators"] = [{"name": "ksg", "k": 5}]
    tiny_config["analysis"] = {"x": "inputs"}
    cfg = validate_config(tiny_config)
    store = write_fake_store(tmp_path / "s.zarr", layers=(("1", 3),))
    tasks = [t for t in make_tasks(store, cfg, slab_bytes=1) if t.epochs == (1,)]
    where = r"estimator 'ksg' on layer '1' at epoch 1 \(seed 0, split all, 3 units\): boom"
    with pytest.raises(ValueError, match=where):
        run_tasks(tasks, progress=False)


# --- estimate_stores: many stores, checks, damaged stores ----------------------------------------

def test_estimate_stores_equals_per_store_reference_serial_and_dask(tmp_path, cfg):
    chash = config_hash(cfg)
    stores = [write_fake_store(tmp_path / f"seed{s}.zarr", n=256, seed=s, chash=chash) for s in (4, 2)]
    expected = tidy_table(pd.concat([per_block_reference(s, cfg) for s in stores]))
    serial = estimate_stores(stores, cfg, workers=1, progress=False)
    pd.testing.assert_frame_equal(serial, expected, check_exact=True)
    assert list(serial["seed"].unique()) == [2, 4]
    parallel = estimate_stores(stores, cfg, workers=2, progress=False)
    pd.testing.assert_frame_equal(parallel, expected, check_exact=True)


def test_estimate_stores_refuses_foreign_incomplete_and_seedless_stores(tmp_path, cfg):
    import zarr

    chash = config_hash(cfg)
    good = write_fake_store(tmp_path / "good.zarr", chash=chash)
    foreign = write_fake_store(tmp_path / "foreign.zarr", chash="0123")
    with pytest.raises(ValueError, match=f"store {foreign} was made by config 0123, expected {chash}"):
        estimate_stores([good, foreign], cfg, progress=False)
    partial = write_fake_store(tmp_path / "partial.zarr", chash=chash)
    del zarr.open_group(str(partial), mode="r+").attrs["complete"]
    with pytest.raises(ValueError, match=f"store {partial} is incomplete"):
        estimate_stores([partial], cfg, progress=False)
    seedless = write_fake_store(tmp_path / "seedless.zarr", chash=chash)
    del zarr.open_group(str(seedless), mode="r+").attrs["seed"]
    with pytest.raises(ValueError, match=f"store {seedless} has no seed attribute"):
        estimate_stores([seedless], cfg, progress=False)


def test_damaged_chunk_is_named_and_missing_chunk_refused(tmp_path, cfg):
    """The stage reads each chunk once (no verification pass): a corrupt chunk still fails with
    its file named, and a chunk missing from a complete store is not mistaken for divergence."""
    import shutil

    chash = config_hash(cfg)
    store = write_fake_store(tmp_path / "s.zarr", chash=chash)
    damaged = Path(shutil.copytree(store, tmp_path / "damaged.zarr"))
    chunk = damaged / "act_2" / "c" / "2" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=f"store {damaged}: chunk file {chunk} is corrupt"):
        estimate_stores([damaged], cfg, progress=False)
    lost = Path(shutil.copytree(store, tmp_path / "lost.zarr"))
    (lost / "act_1" / "c" / "1" / "0" / "0").unlink()
    with pytest.raises(ValueError, match=f"chunk file {lost / 'act_1' / 'c' / '1' / '0' / '0'} is missing"):
        estimate_stores([lost], cfg, progress=False)
    # a diverged store's never-written epochs read as NaN: rows keep the store's status
    diverged = write_fake_store(tmp_path / "div.zarr", chash=chash, status="diverged")
    (diverged / "act_1" / "c" / "3" / "0" / "0").unlink()
    df = estimate_stores([diverged], cfg, progress=False)
    row = df[(df["layer"] == "1") & (df["epoch"] == 7)]
    assert row["I_XT"].isna().all() and (row["reason"] == "non-finite loss at epoch 2").all()


def test_cli_estimate_writes_one_table_for_all_stores(tmp_path, cfg):
    import json

    import yaml

    from infoplane.cli import main

    cfg["estimators"][1]["range"] = "run"
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    chash = config_hash(cfg)
    stores = [write_fake_store(tmp_path / f"seed{s}.zarr", n=128, seed=s, chash=chash) for s in (1, 0)]
    out, geometry = tmp_path / "mi" / "group.csv", tmp_path / "geometry" / "group.csv"
    assert main(["estimate", "--config", str(cfg_path), "--stores", *map(str, stores), "--out", str(out),
                 "--out-geometry", str(geometry), "--workers", "1", "--quiet"]) == 0
    table = pd.read_csv(out, dtype={"layer": str}, keep_default_na=False)
    assert list(table.columns) == list(MI_COLUMNS)
    assert len(table) == 2 * 2 * 4 * 2  # seeds x layers x epochs x estimators
    assert table.groupby("seed").size().to_dict() == {0: 16, 1: 16}
    side = json.loads(Path(str(out) + ".provenance.json").read_text())
    assert json.loads(side["seeds"]) == [0, 1] and "seed" not in side
    # the resolved binning ranges "run", per seed and layer, are in the sidecar
    ranges = json.loads(side["binning_run_range"])
    assert ranges["1"]["2"] == list(layer_run_range(stores[0], "2"))
    geo = pd.read_csv(geometry, dtype={"layer": str})
    assert list(geo.columns) == list(GEOMETRY_COLUMNS) and len(geo) == 2 * 2 * 4
    assert (geo["split"] == "all").all() and geo["clustering"].isna().all()
    per_layer = geo.groupby(["seed", "layer"]).agg(lo=("act_min", "min"), hi=("act_max", "max"))
    assert [per_layer.loc[(1, "2"), "lo"], per_layer.loc[(1, "2"), "hi"]] == ranges["1"]["2"]


# --- splits, binning range "run" and the geometry table ------------------------------------------

def _half_train(n: int, seed: int = 11) -> np.ndarray:
    """A seeded is_train with about 70% train samples."""
    return np.random.default_rng(seed).random(n) < 0.7


@pytest.mark.parametrize("x_mode, other", [("auto", None), ("inputs", {"name": "ksg", "k": 3})])
def test_split_rows_equal_the_estimators_on_the_split_samples(tmp_path, cfg, x_mode, other):
    """Rows of split train (test) are the estimators called directly on the train (test)
    samples' X, T and Y; rows of split all are the whole-store reference, float for float."""
    from infoplane.config import estimator_label, estimator_params

    cfg["analysis"].update(split=["test", "all", "train"], x=x_mode)
    if other:
        cfg["estimators"].append(other)
    is_train = _half_train(300)
    store = write_fake_store(tmp_path / "s.zarr", n=300, seed=5, is_train=is_train)
    got = run_tasks(make_tasks(store, cfg, slab_bytes=2 * 10240), progress=False)
    assert len(got) == 3 * len(per_block_reference(store, cfg))
    assert list(got["split"].iloc[:3]) == ["all", "train", "test"], "splits sort in SPLITS order"
    every = got[got["split"] == "all"].reset_index(drop=True)
    pd.testing.assert_frame_equal(every, per_block_reference(store, cfg), check_exact=True)
    ds = xr.open_zarr(store, consolidated=False)
    y = ds["label"].values.astype(np.int64)
    x = ds["sample_id"].values.astype(np.int64) if x_mode == "auto" else ds["inputs"].values
    for split, mask in (("train", is_train), ("test", ~is_train)):
        rows = got[got["split"] == split].set_index(["estimator", "layer", "epoch"])
        for entry in cfg["estimators"]:
            est = get_estimator(entry["name"], **estimator_params(entry))
            for ei, epoch in enumerate(ds["epoch"].values):
                t = ds["act_2"].isel(epoch=ei).values[mask]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UnreliableEstimateWarning)
                    i_xt, i_ty = est.estimate(x[mask], t), est.estimate(t, y[mask])
                row = rows.loc[(estimator_label(entry), "2", int(epoch))]
                assert (row["I_XT"], row["I_TY"]) == (i_xt, i_ty), (split, entry, epoch)


def test_empty_split_is_an_error_naming_the_split(tmp_path, cfg):
    """A store of held-out samples only (as record.samples: eval writes) has no train split."""
    store = write_fake_store(tmp_path / "s.zarr", n=64, is_train=np.zeros(64, bool))
    cfg["analysis"]["split"] = ["all", "train"]
    with pytest.raises(ValueError, match=r"analysis.split: split 'train' has no samples in .*s.zarr \(64 samples, "
                                         r"0 of them train samples"):
        make_tasks(store, cfg)
    cfg["analysis"]["split"] = ["test"]
    assert {t.splits for t in make_tasks(store, cfg)} == {("test",)}


def _run_cfg(cfg: dict, value_range) -> dict:
    cfg = dict(cfg)
    cfg["estimators"] = [{"name": "binning", "bins": 12, "range": value_range, "label": "b12"}]
    return cfg


def test_range_run_equals_the_explicit_range_of_the_runs_min_and_max(tmp_path, cfg):
    """range: run bins each layer on (its min, its max) over every recorded epoch of the store
    (Chelombiev et al. 2019): the same rows as that explicit range, layer by layer; the range is
    found slab by slab (any slab size) and non-finite activations are ignored."""
    store = write_fake_store(tmp_path / "s.zarr", n=200, poison=("2", 1))
    ds = xr.open_zarr(store, consolidated=False)
    tables = run_stage(make_tasks(store, _run_cfg(cfg, "run"), slab_bytes=4000), progress=False)
    for layer in ("1", "2"):
        acts = ds[f"act_{layer}"].values
        lo, hi = float(np.nanmin(acts)), float(np.nanmax(acts))
        assert np.isnan(acts).any() == (layer == "2")
        for slab_bytes in (1, 4000, 2**30):
            assert layer_run_range(store, layer, slab_bytes) == (lo, hi)
        assert tables.run_ranges["0"][layer] == [lo, hi]
        explicit = _run_cfg(cfg, [lo, hi])
        explicit["analysis"] = {**cfg["analysis"], "layers": [layer]}
        expected = run_tasks(make_tasks(store, explicit), progress=False)
        got = tables.mi[tables.mi["layer"] == layer].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    other = run_tasks(make_tasks(store, _run_cfg(cfg, [-2, 2])), progress=False)
    assert not np.allclose(other["I_XT"], tables.mi["I_XT"], equal_nan=True), "the range matters"


def test_range_run_of_a_constant_layer_gives_zero_bits(tmp_path, cfg):
    """A layer with one value v at every epoch has no (min, max) range: it is binned on
    (v - w, v + w), w = max(1, |v|)/2, one bin, 0 bits (as range auto gives)."""
    store = write_fake_store(tmp_path / "s.zarr", constant="1")
    tables = run_stage(make_tasks(store, _run_cfg(cfg, "run")), progress=False)
    assert tables.run_ranges["0"]["1"] == [0.25 - 0.5, 0.25 + 0.5]
    dead = tables.mi[tables.mi["layer"] == "1"]
    assert (dead["status"] == "ok").all() and (dead[["I_XT", "I_TY"]].to_numpy() == 0.0).all()


def test_range_run_is_resolved_before_the_tasks(tmp_path, cfg):
    """Tasks carry the resolved (lo, hi), never "run" (each task alone is deterministic)."""
    store = write_fake_store(tmp_path / "s.zarr")
    tasks = make_tasks(store, _run_cfg(cfg, "run"), slab_bytes=10240)
    for task in tasks:
        params = dict(task.estimators[0][2])
        assert params["range"] == task.run_range == layer_run_range(store, task.layer)
    with pytest.raises(ValueError, match="range 'run' must be resolved"):
        get_estimator("binning", range="run").estimate(np.arange(10), np.linspace(0, 1, 10))


def test_geometry_table_holds_the_stores_range_and_the_class_clustering(tmp_path, cfg):
    cfg["analysis"].update(split=["all", "train", "test"], clustering=True)
    is_train = _half_train(256)
    store = write_fake_store(tmp_path / "s.zarr", n=256, is_train=is_train, poison=("1", 2))
    geo = run_stage(make_tasks(store, cfg, slab_bytes=2 * 10240), progress=False).geometry
    assert list(geo.columns) == list(GEOMETRY_COLUMNS)
    assert len(geo) == 2 * 4 * 3  # layers x epochs x splits
    ds = xr.open_zarr(store, consolidated=False)
    y = ds["label"].values
    for row in geo.itertuples(index=False):
        t = ds[f"act_{row.layer}"].sel(epoch=row.epoch).values
        mask = {"all": np.ones(256, bool), "train": is_train, "test": ~is_train}[row.split]
        t, labels = t[mask], y[mask]
        assert (row.act_min, row.act_max) == (float(np.nanmin(t)), float(np.nanmax(t)))
        if np.isfinite(t).all():
            assert row.clustering == class_clustering(t, labels)
        else:
            assert np.isnan(row.clustering), "no clustering of a block with non-finite values"
    cfg["analysis"]["clustering"] = False
    plain = run_stage(make_tasks(store, cfg), progress=False).geometry
    assert plain["clustering"].isna().all()
    pd.testing.assert_frame_equal(plain.drop(columns="clustering"), geo.drop(columns="clustering"))


def test_class_clustering_of_blobs_and_of_shuffled_labels():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 800)
    t = np.array([[0.0, 0.0], [50.0, 0.0]])[labels] + rng.normal(size=(len(labels), 2))
    assert class_clustering(t, labels) > 0.9, "two well separated blobs, each one class"
    assert abs(class_clustering(t, rng.permutation(labels))) < 0.05, "labels unrelated to the blobs"
    assert class_clustering(t, labels, seed=3) == class_clustering(t, labels, seed=3)
    assert class_clustering(t, labels, max_samples=5000) == pytest.approx(silhouette_score(t, labels))
    assert np.isnan(class_clustering(t, np.zeros(len(t)))), "one class: undefined"
    with pytest.raises(ValueError, match="3 labels for 1600 rows"):
        class_clustering(t, labels[:3])
    with pytest.raises(ValueError, match="non-finite"):
        class_clustering(np.full((4, 2), np.nan), np.array([0, 0, 1, 1]))
