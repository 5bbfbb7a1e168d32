"""The estimation stage: tasks per (layer, epoch) block, identical tables serially and on Dask,
recovery from a killed Dask worker, diverged and degenerate layers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from infoplane.analysis import MI_COLUMNS, collect_tables, make_tasks, run_tasks, to_dataset
from infoplane.config import validate_config


def write_fake_store(path: Path, n: int = 512, epochs=(0, 1, 3, 7), layers=(("1", 5), ("2", 3)),
                     status: str = "ok", poison: tuple[str, int] | None = None, constant: str | None = None) -> Path:
    """A store in the activation-store format with random tanh activations (no training)."""
    rng = np.random.default_rng(0)
    data = {}
    for name, width in layers:
        a = np.tanh(rng.normal(size=(len(epochs), n, width)) * 2).astype(np.float32)
        if constant == name:
            a[:] = 0.25
        if poison and poison[0] == name:
            a[poison[1]] = np.nan
        data[f"act_{name}"] = (("epoch", "sample", f"unit_{name}"), a)
    labels = (rng.random(n) > 0.5).astype(np.int64)
    ds = xr.Dataset(
        {**data,
         "label": (("sample",), labels),
         "sample_id": (("sample",), np.arange(n, dtype=np.int64)),
         "inputs": (("sample", "input_unit"), rng.normal(size=(n, 4)).astype(np.float32))},
        coords={"epoch": np.asarray(epochs, dtype=np.int64), "sample": np.arange(n)},
        attrs={"layers": [name for name, _ in layers], "discrete_inputs": True, "status": status,
               "reason": "" if status == "ok" else "non-finite loss at epoch 2", "complete": True},
    )
    ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False)
    return path


@pytest.fixture
def cfg(tiny_config):
    tiny_config["estimators"] = [{"name": "binning", "bins": 30, "range": [-1, 1]},
                                 {"name": "binning", "label": "coarse", "bins": 4, "range": [-1, 1]}]
    return validate_config(tiny_config)


def test_one_task_per_layer_and_epoch(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr")
    tasks = make_tasks(store, cfg, seed=3)
    assert len(tasks) == 2 * 4
    assert {(t.layer, t.epoch) for t in tasks} == {(lay, e) for lay in ("1", "2") for e in (0, 1, 3, 7)}
    df = run_tasks(tasks, progress=False)
    assert list(df.columns) == MI_COLUMNS
    assert len(df) == 2 * 4 * 2
    assert set(df["estimator"]) == {"binning", "coarse"}
    assert (df["seed"] == 3).all()
    # x are unique ids: I(X;T) = H(T) <= log2(n); I(T;Y) <= H(Y) <= 1 bit
    assert df["I_XT"].between(0, np.log2(512) + 1e-9).all()
    assert df["I_TY"].between(0, 1).all()
    coarse = df[df["estimator"] == "coarse"]
    fine = df[df["estimator"] == "binning"]
    assert (coarse["I_XT"].to_numpy() <= fine["I_XT"].to_numpy() + 1e-12).all(), "coarser bins keep less"


def test_layer_selection_and_unknown_layer(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr")
    cfg["analysis"]["layers"] = ["2"]
    assert {t.layer for t in make_tasks(store, cfg, 0)} == {"2"}
    cfg["analysis"]["layers"] = ["7"]
    with pytest.raises(ValueError, match=r"analysis.layers: '7' is not a layer of .*s.zarr; its layers are 1, 2"):
        make_tasks(store, cfg, 0)


def test_non_finite_layer_is_marked_not_crashing(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr", poison=("2", 3))
    df = run_tasks(make_tasks(store, cfg, 0), progress=False)
    bad = df[(df["layer"] == "2") & (df["epoch"] == 7)]
    assert (bad["status"] == "diverged").all()
    assert bad["reason"].str.contains("non-finite activations in layer 2 at epoch 7").all()
    assert (df.drop(bad.index)["status"] == "ok").all()


def test_constant_layer_gives_zero_bits(tmp_path, cfg):
    store = write_fake_store(tmp_path / "s.zarr", constant="1")
    df = run_tasks(make_tasks(store, cfg, 0), progress=False)
    dead = df[df["layer"] == "1"]
    assert np.allclose(dead[["I_XT", "I_TY"]].to_numpy(), 0.0)


def test_collect_and_netcdf(tmp_path, cfg):
    paths = []
    for seed in (0, 1):
        store = write_fake_store(tmp_path / f"s{seed}.zarr")
        df = run_tasks(make_tasks(store, cfg, seed), progress=False)
        p = tmp_path / f"mi{seed}.csv"
        df.to_csv(p, index=False)
        paths.append(p)
    table = collect_tables(paths)
    assert len(table) == 2 * 16
    ds = to_dataset(table, {"study": "t"})
    assert dict(ds.sizes) == {"estimator": 2, "seed": 2, "layer": 2, "epoch": 4}
    assert ds["I_XT"].attrs["units"] == "bits"
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"seed": [0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="bad.csv: not an MI table; missing column 'layer'"):
        collect_tables([bad])


# --- Dask: identical results, and a worker killed mid-computation --------------------------------

def _kill_worker_once(task):
    """Estimate the block, but the first time any task runs, hard-kill the worker process."""
    from infoplane.analysis import estimate_block

    marker = Path(task.extra["kill_marker"])
    if task.layer == "2" and task.epoch == 3:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
            os.close(fd)
            os._exit(1)  # SIGKILL-like: the worker dies without cleanup mid-task
        except FileExistsError:
            pass
    return estimate_block(task)


@pytest.fixture
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        yield client


def test_dask_result_equals_serial(tmp_path, cfg, dask_client):
    store = write_fake_store(tmp_path / "s.zarr")
    tasks = make_tasks(store, cfg, 0)
    serial = run_tasks(tasks, progress=False)
    parallel = run_tasks(tasks, dask_client, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)


def test_killed_worker_is_retried_and_result_is_complete(tmp_path, cfg, dask_client):
    import dataclasses

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    store = write_fake_store(tmp_path / "s.zarr")
    tasks = make_tasks(store, cfg, 0)
    serial = run_tasks(tasks, progress=False)
    faulty = [dataclasses.replace(t, extra={"kill_marker": str(marker)}) for t in tasks]
    recovered = run_tasks(faulty, dask_client, progress=False, func=_kill_worker_once)
    assert marker.exists(), "the fault was injected: one worker died"
    pd.testing.assert_frame_equal(serial, recovered)


def test_local_cluster_workers_use_one_library_thread(monkeypatch):
    """A Snakemake job with `threads: N` exports OMP_NUM_THREADS=N; the Dask worker processes
    must not inherit it (N threads in each of N processes oversubscribe the cores)."""
    import os

    from infoplane.analysis import local_client

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    client = local_client(1)
    try:
        env = client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS")))
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert list(env.values()) == [("1", "1")]


def test_estimator_refusal_names_the_layer_and_epoch(tmp_path, tiny_config):
    """wkl refuses a layer too wide for its bias weights; the error says where it happened."""
    tiny_config["estimators"] = [{"name": "wkl", "k": 10}]
    tiny_config["analysis"] = {"x": "inputs"}  # wkl cannot take sample ids (a config error)
    cfg = validate_config(tiny_config)
    store = write_fake_store(tmp_path / "s.zarr", layers=(("1", 20),))
    tasks = [t for t in make_tasks(store, cfg, 0) if t.epoch == 1]
    with pytest.raises(ValueError, match=r"estimator 'wkl' on layer '1' at epoch 1 \(seed 0, 20 units\): wkl: "):
        run_tasks(tasks, progress=False)
