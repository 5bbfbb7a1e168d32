"""Interruption: SIGKILL at any point, then a rerun, gives the same results as an uninterrupted run.

Two kinds of fault are injected:

* the whole Snakemake process group is SIGKILLed (a) while a network trains and (b) while its
  MI is being estimated; the study is then rerun and its ``mi.csv`` and activation store must be
  identical to those of an uninterrupted run in another directory, with training resumed from
  its last checkpoint;
* a training process kills itself with SIGKILL at a chosen write of the activation store,
  injected through the training's store-writer seam (``infoplane.training.StoreWriter``): right
  after the store was created, half-way through one write of recorded epochs (some layers'
  chunks written, not all), and before the ``complete`` attribute; the partial store must be
  refused by every reader, and a rerun must resume and give the bit-identical store and metrics.

The workflow tests take about two minutes on two cores; all are marked ``slow``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
STUDY = "reliability"
EPOCHS = 60

CONFIG = {
    "study": STUDY,
    "seeds": [0],
    "dataset": {"name": "tishby_12bit"},
    "model": {"kind": "mlp", "widths": [6, 4], "activation": "tanh"},
    "training": {"epochs": EPOCHS, "batch_size": 256, "lr": 0.01, "checkpoint_every": 5},
    "record": {"num_epochs": 8, "spacing": "log"},
    # kde besides binning: estimation long enough (a few seconds, on a 2-process Dask cluster) to
    # be killed in the middle; binning alone finishes in well under a second.
    "estimators": [{"name": "binning", "bins": 30, "range": [-1, 1]}, {"name": "kde", "noise_variance": 0.1}],
}
TARGET = f"results/{STUDY}/mi.csv"
LOCKED = "Directory cannot be locked"

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    """The environment of the subprocesses: the venv's bin first, so rules find `infoplane`."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _snakemake_cmd(workdir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--cores", "2",
        "--configfile", str(workdir / "config.yaml"), "--directory", str(workdir), *extra, TARGET,
    ]


def _run(workdir: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(_snakemake_cmd(workdir, *extra), cwd=workdir, env=_env(), capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}) in {workdir}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def _rerun(workdir: Path, *extra: str, record: list[str]) -> subprocess.CompletedProcess:
    """Rerun the study; when a stale lock of the killed run blocks it, note that, unlock, retry."""
    proc = _run(workdir, *extra, check=False)
    if proc.returncode != 0 and LOCKED in proc.stdout + proc.stderr:
        record.append(" ".join(extra) or "(plain)")
        subprocess.run([*_snakemake_cmd(workdir)[:-1], "--unlock"], cwd=workdir, env=_env(),
                       capture_output=True, check=True, timeout=300)
        proc = _run(workdir, *extra, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"rerun failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _checkpoint_epoch(path: Path) -> int:
    """Epoch of the checkpoint file (written atomically by training), -1 if absent/unreadable."""
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:
        return -1


def _start_and_kill(workdir: Path, ready, what: str, timeout: float = 240.0, *extra: str) -> dict:
    """Start the study in its own session, wait until ``ready()`` is true, SIGKILL the group.

    Returns what was observed at the kill (from ``ready``) and whether a process survived.
    """
    log = open(workdir / f"killed-{what}.txt", "w")
    proc = subprocess.Popen(_snakemake_cmd(workdir, *extra), cwd=workdir, env=_env(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    pgid = os.getpgid(proc.pid)
    t0, seen = time.monotonic(), None
    try:
        while time.monotonic() - t0 < timeout:
            seen = ready()
            if seen is not None or proc.poll() is not None:
                break
            time.sleep(0.02)
    finally:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
        log.close()
    text = (workdir / f"killed-{what}.txt").read_text()
    if seen is None:
        if LOCKED in text:
            raise AssertionError(f"{what}: snakemake refused to start because of a stale lock:\n{text[-2000:]}")
        raise AssertionError(f"{what}: the run ended (rc={proc.returncode}) before it could be killed:\n{text[-3000:]}")
    survivors = True
    for _ in range(100):  # killed children are reparented and reaped; give it a moment
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            survivors = False
            break
        time.sleep(0.05)
    return {"seen": seen, "survivors": survivors, "seconds": time.monotonic() - t0}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the study."""
    work = tmp_path_factory.mktemp("uninterrupted")
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    _run(work)
    return work


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> dict:
    """The same study, SIGKILLed during training, rerun and SIGKILLed during estimation, rerun."""
    work = tmp_path_factory.mktemp("interrupted")
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    res = work / "results" / STUDY
    ckpt = res / "work" / "seeds-0" / "checkpoint.pt"
    rng = np.random.default_rng(12345)
    kill_from = int(rng.integers(5, 25))  # a checkpointed epoch > 0, well before the end

    def training_under_way():
        if ckpt.is_file():
            epoch = _checkpoint_epoch(ckpt)
            if kill_from <= epoch < EPOCHS:
                time.sleep(float(rng.uniform(0.0, 0.05)))  # land anywhere inside the next epoch
                return epoch
        return None

    import torch  # noqa: F401  (imported now: the first import takes longer than the training)

    out: dict = {"work": work, "locked": []}
    out["train_kill"] = _start_and_kill(work, training_under_way, "train")
    out["after_train_kill"] = {
        "final_store": (res / "activations" / "seeds-0" / "seed0.zarr").exists(),
        "partial_store": res / "work" / "seeds-0" / "seed0.partial.zarr",
        "partial_store_complete": _store_complete(res / "work" / "seeds-0" / "seed0.partial.zarr"),
        "checkpoint_epoch": _checkpoint_epoch(ckpt),
    }
    out["partial_open_error"] = _open_error(res / "work" / "seeds-0" / "seed0.partial.zarr")

    est_log = res / "logs" / "estimate" / "seeds-0.log"
    train_log = res / "logs" / "train" / "seeds-0.log"

    def estimation_under_way():
        if est_log.is_file():
            m = re.findall(r"estimate:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", est_log.read_text(errors="replace"))
            if m and 0 < int(m[-1][0]) < int(m[-1][1]):
                return int(m[-1][0]), int(m[-1][1])
        return None

    # The plain rerun (the profile adds --rerun-incomplete); a stale lock is recorded and lifted.
    try:
        out["estimate_kill"] = _start_and_kill(work, estimation_under_way, "estimate")
    except AssertionError as exc:
        if LOCKED not in str(exc):
            raise
        out["locked"].append("(plain)")
        subprocess.run([*_snakemake_cmd(work)[:-1], "--unlock"], cwd=work, env=_env(), capture_output=True,
                       check=True, timeout=300)
        out["estimate_kill"] = _start_and_kill(work, estimation_under_way, "estimate")
    out["train_log"] = train_log.read_text(errors="replace")
    out["mi_seed_after_estimate_kill"] = (res / "mi" / "seeds-0.csv").exists()
    # The README's command, with --rerun-incomplete spelled out.
    _rerun(work, "--rerun-incomplete", record=out["locked"])
    return out


def _store_complete(path: Path) -> bool | None:
    meta = path / "zarr.json"
    if not meta.is_file():
        return None
    return json.loads(meta.read_text()).get("attributes", {}).get("complete") is True


def _open_error(path: Path) -> str:
    from infoplane.store import open_store

    try:
        open_store(path)
    except ValueError as exc:
        return str(exc)
    return ""


def test_kill_during_training_leaves_no_complete_store(interrupted):
    state = interrupted["after_train_kill"]
    assert not interrupted["train_kill"]["survivors"], "a process of the killed group survived SIGKILL"
    assert not state["final_store"], "the output store must not exist before training finished"
    assert state["partial_store_complete"] is False
    assert str(state["partial_store"]) in interrupted["partial_open_error"]
    assert "incomplete" in interrupted["partial_open_error"]
    assert state["checkpoint_epoch"] >= interrupted["train_kill"]["seen"] > 0


def test_training_resumed_from_its_checkpoint(interrupted):
    # The CLI does not configure logging, so the "resuming from the checkpoint" log record is not
    # in the job log; the progress bar's first state (initial=<resumed epoch>) is.
    log = interrupted["train_log"]
    first = re.search(r"seed 0:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", log)
    assert first, log[:2000]
    start, total = map(int, first.groups())
    assert total == EPOCHS
    assert start == interrupted["after_train_kill"]["checkpoint_epoch"] > 0, (
        f"training restarted at epoch {start}, the checkpoint was at "
        f"{interrupted['after_train_kill']['checkpoint_epoch']}"
    )


def test_kill_during_estimation_hit_mid_estimation(interrupted):
    done, total = interrupted["estimate_kill"]["seen"]
    assert 0 < done < total
    assert not interrupted["mi_seed_after_estimate_kill"], "a killed estimate job must leave no MI table"
    assert not interrupted["estimate_kill"]["survivors"]


def test_mi_table_identical_to_uninterrupted_run(reference, interrupted):
    a = reference / TARGET
    b = interrupted["work"] / TARGET
    df_a = pd.read_csv(a, dtype={"layer": str})
    df_b = pd.read_csv(b, dtype={"layer": str})
    assert len(df_a) == 3 * 8 * 2  # 3 layers x 8 recorded epochs x 2 estimators (one seed)
    assert df_a["I_XT"].notna().all()
    pd.testing.assert_frame_equal(df_a, df_b, check_exact=True)
    assert a.read_bytes() == b.read_bytes()


def test_activations_and_metrics_identical_to_uninterrupted_run(reference, interrupted):
    import xarray as xr

    rel = Path("results") / STUDY
    sa = xr.open_zarr(reference / rel / "activations" / "seeds-0" / "seed0.zarr", consolidated=False)
    sb = xr.open_zarr(interrupted["work"] / rel / "activations" / "seeds-0" / "seed0.zarr", consolidated=False)
    assert sorted(sa.data_vars) == sorted(sb.data_vars)
    for var in sa.data_vars:
        a, b = sa[var].values, sb[var].values
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, err_msg=var)
    assert not np.isnan(sa["act_1"].values).any()
    assert sa.attrs == sb.attrs
    for name in ("metrics.csv", "metrics/seeds-0.csv"):
        assert (reference / rel / name).read_bytes() == (interrupted["work"] / rel / name).read_bytes(), name
    assert not (interrupted["work"] / rel / "work" / "seeds-0" / "checkpoint.pt").exists()


def test_plain_rerun_after_sigkill_needs_no_unlock(interrupted):
    """Snakemake cannot remove its lock when SIGKILLed; the workflow releases it on the next run
    (infoplane.locks), so the README's plain rerun works without `snakemake --unlock`."""
    assert interrupted["locked"] == [], f"reruns blocked by a stale lock: {interrupted['locked']}"


# ------------------------------------------------------------------------------------------
# Faults inside one `infoplane train` process: SIGKILL at a chosen write of the store.

TRAIN_CFG = {
    "study": "killed",
    "seeds": [0],
    "dataset": {"name": "tishby_12bit"},
    "model": {"kind": "mlp", "widths": [6, 4], "activation": "tanh"},
    "training": {"epochs": 12, "batch_size": 256, "lr": 0.01, "checkpoint_every": 5},
    "record": {"num_epochs": 6, "spacing": "log"},
    "estimators": [{"name": "binning"}],
}

# Trains seed 0 with a StoreWriter that SIGKILLs the process at the `call`-th call of the phase
# named by argv[1] (create: right after creating the store; write: after writing only the first
# `keep` layers of that write; finalize: before the store is finalised).
_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from infoplane.config import load_config
    from infoplane.training import StoreWriter, train_run

    phase, call, keep, cfg_path, store, metrics, workdir = sys.argv[1:8]
    call, keep = int(call), int(keep)

    class Killer(StoreWriter):
        calls = 0

        def due(self, name):
            if name == phase:
                self.calls += 1
                return self.calls == call
            return False

        def kill(self, what):
            print(f"killing at {phase} call {call}: {what}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        def create(self, path, **kw):
            super().create(path, **kw)
            if self.due("create"):
                self.kill(path)

        def write(self, path, start, acts, metrics):
            if self.due("write"):
                names = list(acts)[:keep]
                super().write(path, start, {k: acts[k] for k in names}, {})
                self.kill(f"{path} epochs from {start}, layers {names} written")
            super().write(path, start, acts, metrics)

        def finalize(self, path, *a, **k):
            if self.due("finalize"):
                self.kill(path)
            super().finalize(path, *a, **k)

    train_run(load_config(cfg_path), 0, store, metrics, workdir, progress=False, writer=Killer())
    """
)


@pytest.fixture(scope="module")
def train_cfg(tmp_path_factory) -> tuple[Path, dict]:
    from infoplane.config import validate_config

    where = tmp_path_factory.mktemp("train_cfg")
    (where / "config.yaml").write_text(yaml.safe_dump(TRAIN_CFG))
    return where / "config.yaml", validate_config(copy.deepcopy(TRAIN_CFG))


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory, train_cfg) -> tuple[Path, Path]:
    from infoplane.training import train_run

    where = tmp_path_factory.mktemp("train_reference")
    train_run(train_cfg[1], 0, where / "s.zarr", where / "m.csv", where / "work", progress=False)
    return where / "s.zarr", where / "m.csv"


@pytest.mark.parametrize(
    "phase, call, keep, resumes",
    [
        ("create", 1, 0, False),   # store created, no checkpoint yet
        ("write", 2, 2, True),     # second write (at the epoch-10 checkpoint): 2 of 3 layers written
        ("finalize", 1, 0, True),  # every epoch written, `complete` not
    ],
    ids=["after-creating-store", "mid-write-chunks", "before-complete-attr"],
)
def test_sigkill_while_writing_store_then_rerun(
    tmp_path, train_cfg, train_reference, caplog, phase, call, keep, resumes
):
    import logging

    from infoplane.store import open_store
    from infoplane.training import train_run

    cfg_path, cfg = train_cfg
    store, metrics, workdir = tmp_path / "s.zarr", tmp_path / "m.csv", tmp_path / "work"
    args = [str(cfg_path), str(store), str(metrics), str(workdir)]
    proc = subprocess.run([sys.executable, "-c", _KILLER, phase, str(call), str(keep), *args],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert f"killing at {phase}" in proc.stderr
    # Nothing half-written is visible as a result.
    assert not store.exists() and not metrics.exists()
    partial = workdir / "seed0.partial.zarr"
    assert (partial / "zarr.json").is_file()
    with pytest.raises(ValueError, match=re.escape(str(partial)) + ".*incomplete"):
        open_store(partial)
    # A plain rerun resumes (or starts over when no checkpoint was written yet) ...
    with caplog.at_level(logging.INFO, logger="infoplane.training"):
        train_run(cfg, 0, store, metrics, workdir, progress=False)
    assert ("resuming from the checkpoint" in caplog.text) == resumes, caplog.text
    # ... and gives the same bits as the uninterrupted run.
    ref, got = open_store(train_reference[0]), open_store(store)
    assert sorted(ref.data_vars) == sorted(got.data_vars)
    for var in ref.data_vars:
        np.testing.assert_array_equal(ref[var].values, got[var].values, err_msg=var)
    assert ref.attrs == got.attrs
    assert metrics.read_text() == train_reference[1].read_text()


def test_estimate_refuses_partial_store(tmp_path, train_cfg):
    """`infoplane estimate` on a store whose training did not finish: exit 2, one line naming it."""
    from infoplane.training import train_run

    class Stop(RuntimeError):
        pass

    def stop_after_3(epoch: int) -> None:
        if epoch == 3:
            raise Stop

    cfg_path, cfg = train_cfg
    workdir = tmp_path / "work"
    with pytest.raises(Stop):
        train_run(cfg, 0, tmp_path / "s.zarr", tmp_path / "m.csv", workdir, progress=False, on_epoch_end=stop_after_3)
    partial = workdir / "seed0.partial.zarr"
    assert _store_complete(partial) is False
    proc = subprocess.run(
        [sys.executable, "-m", "infoplane.cli", "estimate", "--config", str(cfg_path), "--stores", str(partial),
         "--out", str(tmp_path / "mi.csv"), "--quiet"],
        env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    lines = [li for li in proc.stderr.splitlines() if li.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("infoplane estimate: error: ")
    assert str(partial) in lines[0] and "incomplete" in lines[0]
    assert not (tmp_path / "mi.csv").exists()
