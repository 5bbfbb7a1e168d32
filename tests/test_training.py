"""Training: recording schedule, seed groups (bit-identical to seeds alone), resumability
(bit-identical), divergence, metrics, devices, the CLI."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from infoplane.config import validate_config
from infoplane.datasets import train_eval_split
from infoplane.store import open_store
from infoplane.tables import SGD_COLUMNS
from infoplane.training import (
    METRIC_COLUMNS,
    StoreWriter,
    _train,
    record_epochs,
    resolve_device,
    train_group,
    train_run,
)

RAW_CFG = {
    "study": "tiny",
    "seeds": [0],
    "dataset": {"name": "tishby_12bit", "root": None, "size": None, "train_fraction": 0.8, "split_seed": 0},
    "model": {"kind": "mlp", "widths": [6, 4], "activation": "tanh", "init": "truncated_normal", "noise": 0.0,
              "pool": True},
    "training": {"epochs": 6, "batch_size": 256, "lr": 0.01, "optimizer": "adam", "checkpoint_every": 1, "threads": 1},
    "record": {"num_epochs": 4, "spacing": "log", "include_init": True, "samples": "all"},
    "estimators": [{"name": "binning"}],
}
BASE_CFG = validate_config(copy.deepcopy(RAW_CFG))


class Killed(RuntimeError):
    """Raised by the tests' on_epoch_end callback: a job killed after that epoch."""


def kill_after(epoch: int):
    def on_epoch_end(e: int) -> None:
        if e == epoch:
            raise Killed(f"killed after epoch {e}")

    return on_epoch_end


def cfg_with(**sections) -> dict:
    raw = copy.deepcopy(RAW_CFG)
    for section, values in sections.items():
        raw[section].update(values)
    return validate_config(raw)


def run(cfg: dict, where: Path, seed: int = 0, **kw) -> tuple[Path, Path]:
    """Train one seed; the SGD-diagnostics CSV goes to ``where / "sgd.csv"``."""
    store, csv = where / "store.zarr", where / "metrics.csv"
    train_run(cfg, seed, store, csv, where / "work", progress=False, sgd_csv=where / "sgd.csv", **kw)
    return store, csv


def group(cfg: dict, where: Path, seeds=(0, 1, 2), **kw) -> tuple[Path, Path]:
    """Train a group; the SGD-diagnostics CSV goes to ``where / "sgd.csv"``."""
    train_group(cfg, list(seeds), where / "stores", where / "metrics.csv", where / "work", progress=False,
                sgd=where / "sgd.csv", **kw)
    return where / "stores", where / "metrics.csv"


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
    assert (a[1].parent / "sgd.csv").read_text() == (b[1].parent / "sgd.csv").read_text()


@pytest.mark.parametrize(
    "model, training",
    [({"noise": 0.0}, {}), ({"noise": 0.05}, {}),
     ({"activation": "softplus", "additive_noise": 0.1, "noise": 0.05}, {"weight_decay": 0.015})],
    ids=["plain", "noise", "softplus-additive-decay"],
)
def test_resumed_run_is_bit_identical(tmp_path, caplog, model, training):
    cfg = cfg_with(model=model, training=training)
    straight = run(cfg, tmp_path / "a")
    with pytest.raises(Killed):
        run(cfg, tmp_path / "b", on_epoch_end=kill_after(3))
    assert (tmp_path / "b" / "work" / "checkpoint.pt").is_file()
    assert not (tmp_path / "b" / "store.zarr").exists()
    with caplog.at_level(logging.INFO, logger="infoplane.training"):
        resumed = run(cfg, tmp_path / "b")
    assert "resuming from the checkpoint of epoch 3" in caplog.text
    _assert_same_run(straight, resumed)
    # and a different seed gives a different network
    other = run(cfg, tmp_path / "c", seed=1)
    assert not np.array_equal(open_store(straight[0])["act_1"].values, open_store(other[0])["act_1"].values)


class _ZarrWrites(StoreWriter):
    """The training's store writer with every array written through Zarr's region writes."""

    def write(self, path, start, activations, metrics):
        from infoplane.store import write_epochs

        write_epochs(path, start, activations, metrics, direct=False)


def test_store_of_direct_writes_equals_zarr_writes(tmp_path):
    """The training writes its recorded epochs as chunk files directly; a store written through
    Zarr alone has the same files with the same bytes."""
    direct = run(BASE_CFG, tmp_path / "direct")
    via_zarr = run(BASE_CFG, tmp_path / "zarr", writer=_ZarrWrites())
    _assert_same_run(direct, via_zarr)

    def files(root: Path) -> dict[str, bytes]:
        return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}

    got, want = files(direct[0]), files(via_zarr[0])
    assert sorted(got) == sorted(want)
    assert not (direct[0] / "grad_mean" / "c" / "0").exists()  # all NaN: not stored, as Zarr does
    assert (direct[0] / "act_1" / "c" / "3" / "0" / "0").is_file()
    for key in want:
        assert got[key] == want[key], key


def test_changed_config_starts_fresh(tmp_path, caplog):
    with pytest.raises(Killed):
        run(BASE_CFG, tmp_path / "b", on_epoch_end=kill_after(4))
    changed = cfg_with(training={"lr": 0.02})
    with caplog.at_level(logging.INFO, logger="infoplane.training"):
        resumed = run(changed, tmp_path / "b")  # same workdir, other config hash: must not resume
    assert "starting fresh" in caplog.text and "resuming" not in caplog.text
    straight = run(changed, tmp_path / "a")
    _assert_same_run(straight, resumed)


# ---------------------------------------------------------------------------------- groups


def _assert_seed_equal(group_dir: Path, group_csv: Path, seed: int, alone: tuple[Path, Path]) -> None:
    dg, da = open_store(group_dir / f"seed{seed}.zarr"), open_store(alone[0])
    assert sorted(dg.data_vars) == sorted(da.data_vars)
    for var in dg.data_vars:
        np.testing.assert_array_equal(dg[var].values, da[var].values, err_msg=var)  # bit for bit
    assert dg.attrs == da.attrs
    mg = pd.read_csv(group_csv)
    mg = mg[mg.seed == seed].reset_index(drop=True)
    pd.testing.assert_frame_equal(mg, pd.read_csv(alone[1]), check_exact=True)
    sg = pd.read_csv(group_csv.parent / "sgd.csv", dtype={"layer": str})
    sg = sg[sg.seed == seed].reset_index(drop=True)
    sa = pd.read_csv(alone[1].parent / "sgd.csv", dtype={"layer": str})
    assert list(sa.columns) == list(SGD_COLUMNS) and len(sa) > 0
    pd.testing.assert_frame_equal(sg, sa, check_exact=True)


@pytest.mark.parametrize(
    "model, training",
    [
        ({"noise": 0.0}, {}),
        ({"noise": 0.05, "widths": [10, 7, 5]}, {}),
        ({"activation": "relu", "init": "default"}, {"optimizer": "sgd", "lr": 0.1}),
        ({"activation": "sigmoid"}, {"batch_size": 100}),
        ({"activation": "leaky_relu"}, {}),
        ({"activation": "linear"}, {}),
        ({"activation": "softplus", "additive_noise": 0.1}, {"weight_decay": 0.015, "batch_size": 100}),
        ({"additive_noise": 0.2, "noise": 0.05}, {"optimizer": "sgd", "lr": 0.1, "weight_decay": 0.01}),
    ],
    ids=["tanh", "tanh-noise", "relu-sgd", "sigmoid-b100", "leaky_relu", "linear", "softplus-additive-decay",
         "additive-relative-sgd-decay"],
)
def test_seed_in_a_group_equals_the_seed_alone(tmp_path, model, training):
    """A seed trained in a batched group: metrics and activations bit-identical to training it alone."""
    cfg = cfg_with(model=model, training={"epochs": 4, **training})
    gdir, gcsv = group(cfg, tmp_path / "g", seeds=(3, 0, 5))
    m = pd.read_csv(gcsv)
    assert list(m.columns) == list(METRIC_COLUMNS)
    assert m.seed.tolist() == [0] * 5 + [3] * 5 + [5] * 5 and m.epoch.tolist() == list(range(5)) * 3
    for seed in (0, 5):
        _assert_seed_equal(gdir, gcsv, seed, run(cfg, tmp_path / f"alone{seed}", seed=seed))
    a, b = (open_store(gdir / f"seed{s}.zarr")["act_1"].values for s in (0, 5))
    assert not np.array_equal(a, b)


def test_conv_group_falls_back_to_seeds_one_after_another(tmp_path):
    cfg = cfg_with(dataset={"name": "digits", "size": 200}, record={"samples": "eval", "num_epochs": 2},
                   model={"kind": "conv", "pool": False, "init": "default", "noise": 0.01}, training={"epochs": 2})
    gdir, gcsv = group(cfg, tmp_path / "g", seeds=(0, 1))
    _assert_seed_equal(gdir, gcsv, 1, run(cfg, tmp_path / "alone", seed=1))


@pytest.mark.parametrize(
    "model, training",
    [({"noise": 0.05}, {}),
     ({"activation": "softplus", "noise": 0.05, "additive_noise": 0.1}, {"weight_decay": 0.015}),
     ({"noise": 0.0}, {}),
     ({"activation": "relu", "noise": 0.0}, {"weight_decay": 0.015, "batch_size": 300})],
    ids=["tanh-noise", "softplus-additive-decay", "tanh-fused", "relu-decay-fused"],
)
def test_batched_mlp_trains_like_torch_modules(tmp_path, model, training):
    """The hand-written forward/backward and Adam agree with autograd + torch.optim.Adam (to float
    rounding: different kernels), so the batched engine trains the same network: the same
    softplus derivative, noise draws in the same order, the same weight decay. Noiseless nets
    take the fused compiled epoch (infoplane.models.fused), noisy ones the torch ops."""
    cfg = cfg_with(model={"widths": [10, 7, 5, 4, 3], **model}, training={"epochs": 5, "lr": 0.004, **training})
    paths = {}
    for name, batched in (("batched", True), ("module", False)):
        where = tmp_path / name
        _train(cfg, [0, 1], {0: where / "s0.zarr", 1: where / "s1.zarr"}, where / "m.csv", where / "work",
               False, batched=batched)
        paths[name] = where
    a, b = pd.read_csv(paths["batched"] / "m.csv"), pd.read_csv(paths["module"] / "m.csv")
    np.testing.assert_allclose(a[["train_loss", "eval_loss"]], b[["train_loss", "eval_loss"]], rtol=1e-4)
    assert a.train_loss.iloc[-1] < a.train_loss.iloc[0]
    da, db = open_store(paths["batched"] / "s1.zarr"), open_store(paths["module"] / "s1.zarr")
    np.testing.assert_allclose(da["act_3"].values, db["act_3"].values, atol=1e-4)
    for var in ("grad_mean", "grad_std", "weight_norm"):
        np.testing.assert_allclose(da[var].values, db[var].values, rtol=1e-3, err_msg=var)


def test_killed_group_resumes_bit_identical(tmp_path, caplog):
    cfg = cfg_with(model={"noise": 0.05}, training={"checkpoint_every": 2})
    straight = group(cfg, tmp_path / "a")
    with pytest.raises(Killed):
        group(cfg, tmp_path / "b", on_epoch_end=kill_after(5))  # last checkpoint: epoch 4
    work = tmp_path / "b" / "work"
    assert (work / "checkpoint.pt").is_file() and (work / "seed1.partial.zarr").is_dir()
    assert not (tmp_path / "b" / "stores").exists() and not (tmp_path / "b" / "metrics.csv").exists()
    with caplog.at_level(logging.INFO, logger="infoplane.training"):
        resumed = group(cfg, tmp_path / "b")
    assert "resuming from the checkpoint of epoch 4" in caplog.text
    assert resumed[1].read_bytes() == straight[1].read_bytes()
    for seed in (0, 1, 2):
        a, b = open_store(straight[0] / f"seed{seed}.zarr"), open_store(resumed[0] / f"seed{seed}.zarr")
        for var in a.data_vars:
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
        assert a.attrs == b.attrs
    assert not (work / "checkpoint.pt").exists() and not (work / "seed0.partial.zarr").exists()
    # the same workdir with other seeds does not resume the group's checkpoint
    with pytest.raises(Killed):
        group(cfg, tmp_path / "c", on_epoch_end=kill_after(3))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="infoplane.training"):
        group(cfg, tmp_path / "c", seeds=(0, 1))
    assert "starting fresh" in caplog.text


def test_device_cuda_without_gpu_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="training.device='cuda'.*no CUDA GPU.*device: cpu or auto"):
        run(cfg_with(training={"device": "cuda"}), tmp_path)
    assert not (tmp_path / "store.zarr").exists()


def test_cli_train_writes_every_seed(tmp_path, capsys):
    import yaml

    from infoplane.cli import main

    raw = copy.deepcopy(RAW_CFG)
    raw["training"].update(epochs=3, threads=2)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    threads = torch.get_num_threads()
    rc = main(["train", "--config", str(tmp_path / "c.yaml"), "--seeds", "2", "1", "--outdir", str(tmp_path / "out"),
               "--metrics", str(tmp_path / "m.csv"), "--workdir", str(tmp_path / "w"), "--threads", "1", "--quiet"])
    assert rc == 0
    m = pd.read_csv(tmp_path / "m.csv")
    assert list(m.columns) == list(METRIC_COLUMNS) and m.seed.tolist() == [1] * 4 + [2] * 4
    for seed in (1, 2):
        ds = open_store(tmp_path / "out" / f"seed{seed}.zarr")
        assert ds.attrs["seed"] == seed and ds.attrs["status"] == "ok"
    assert torch.get_num_threads() == threads  # restored after training
    with pytest.raises(SystemExit) as exit_:  # argparse: the missing required flag is named
        main(["train", "--config", str(tmp_path / "c.yaml"), "--seeds", "1", "--metrics", str(tmp_path / "x.csv"),
              "--workdir", str(tmp_path / "w2")])
    assert exit_.value.code == 2 and "--outdir" in capsys.readouterr().err


def test_divergence_is_recorded_not_raised(tmp_path):
    cfg = cfg_with(model={"activation": "relu"}, training={"optimizer": "sgd", "lr": 1e25})
    store, csv = run(cfg, tmp_path)
    ds = open_store(store)
    assert ds.attrs["status"] == "diverged" and ds.attrs["complete"] is True
    assert ds.attrs["epochs_trained"] == int(pd.read_csv(csv).epoch.iloc[-1])
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


@pytest.mark.parametrize("engine", ["batched", "module"])
def test_eval_every_changes_only_the_metrics_rows(tmp_path, engine):
    """training.eval_every: the stores and SGD diagnostics equal those of evaluating every epoch;
    metrics.csv holds the rows of every eval_every-th, recorded and last epoch, equal to the
    every-epoch run's rows there."""
    model = {"activation": "tanh", "noise": 0.05} if engine == "batched" else {"kind": "conv", "pool": False}
    dataset = {} if engine == "batched" else {"name": "digits", "size": 120}
    every = cfg_with(model=model, dataset=dataset, training={"epochs": 7, "eval_every": 1},
                     record={"num_epochs": 3})
    sparse = cfg_with(model=model, dataset=dataset, training={"epochs": 7, "eval_every": 4},
                      record={"num_epochs": 3})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = run(every, tmp_path / "a"), run(sparse, tmp_path / "b")
    da, db = open_store(a[0]), open_store(b[0])
    for var in da.data_vars:
        np.testing.assert_array_equal(da[var].values, db[var].values, err_msg=var)
    assert (tmp_path / "a" / "sgd.csv").read_text() == (tmp_path / "b" / "sgd.csv").read_text()
    ma, mb = pd.read_csv(a[1]), pd.read_csv(b[1])
    recorded = set(int(e) for e in da["epoch"].values)
    expected = sorted({0, 4, 7} | recorded)
    assert mb["epoch"].tolist() == expected and ma["epoch"].tolist() == list(range(8))
    pd.testing.assert_frame_equal(ma[ma["epoch"].isin(expected)].reset_index(drop=True), mb)


def test_divergence_between_evaluations_is_noticed(tmp_path):
    """With eval_every > 1 a seed whose minibatch loss turns non-finite at an epoch without an
    evaluation stops there, with the reason naming the training loss."""
    cfg = cfg_with(model={"activation": "relu"}, training={"optimizer": "sgd", "lr": 1e25, "eval_every": 1000},
                   record={"num_epochs": 2, "spacing": "linear", "include_init": True})  # epochs 0 and 6
    store, csv = run(cfg, tmp_path)
    ds = open_store(store)
    assert ds.attrs["status"] == "diverged"
    assert ds.attrs["reason"].startswith("non-finite training loss at epoch ")
    assert pd.read_csv(csv)["epoch"].tolist() == [0]
