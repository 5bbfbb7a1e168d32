"""The tiny study's DAG on real clusters: a Dask scheduler with two worker processes on localhost
(through $INFOPLANE_DASK_SCHEDULER and through the config key dask.scheduler), and a one-node
SLURM cluster on localhost through workflow/profiles/slurm. Each must reproduce the local run's
mi.csv byte for byte. A job that no SLURM node can run stops the workflow with one line before
anything is submitted (SLURM would keep it pending forever).

The SLURM tests need root and Debian's slurm-wlm and munge (.ci/run installs them where it can);
elsewhere they skip and say why. Unit tests of infoplane.cluster run everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY_NETWORK_CONFIG
from local_slurm import LocalSlurm, free_port, why_unavailable

from infoplane.cluster import (
    ClusterError,
    JobRequest,
    SlurmNode,
    check_jobs_fit,
    dask_scheduler,
    estimation_mem_mb,
    estimation_tasks,
    layer_widths,
    parallel_threads,
    parse_sinfo,
    serial_estimation,
)
from infoplane.config import validate_config

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm"
MI_TABLE = Path("results") / "tiny" / "mi.csv"
#: One seed keeps the three real-cluster runs to about a minute each.
# kde besides binning: an estimator that is not cheap per call, so estimation jobs run a
# 2-process LocalCluster (binning alone runs serially: infoplane.cluster.serial_estimation).
CLUSTER_CONFIG = {**TINY_NETWORK_CONFIG, "seeds": [0],
                  "estimators": [*TINY_NETWORK_CONFIG["estimators"], {"name": "kde", "noise_variance": 0.1}]}


# ---- infoplane.cluster without a cluster -----------------------------------------------------------


def assert_same_table(path: Path, reference: Path) -> None:
    """The MI table equals the local run's byte for byte (every estimate bit for bit).

    The kernels give the same bits whatever the thread count and whether a process compiled
    them or loaded them from numba's on-disk cache (tests/test_compiled_history.py): the
    reference run compiles them where no cache exists yet, the cluster runs load its cache.
    On a mismatch the first differing line of each table is shown.
    """
    got, want = Path(path).read_bytes(), Path(reference).read_bytes()
    if got != want:
        pairs = zip(got.decode().splitlines(), want.decode().splitlines(), strict=False)
        first = next(((i, a, b) for i, (a, b) in enumerate(pairs) if a != b), None)
        raise AssertionError(f"{path} differs from {reference} (first differing line, got/expected): {first}")


def test_scheduler_precedence_cli_then_environment_then_config():
    cfg = validate_config({**CLUSTER_CONFIG, "dask": {"scheduler": "tcp://cfg:1"}})
    env = {"INFOPLANE_DASK_SCHEDULER": "tcp://env:2"}
    assert dask_scheduler(cfg, "tcp://cli:3", env) == "tcp://cli:3"
    assert dask_scheduler(cfg, None, env) == "tcp://env:2"
    assert dask_scheduler(cfg, None, {"INFOPLANE_DASK_SCHEDULER": " "}) == "tcp://cfg:1"
    assert dask_scheduler(validate_config(CLUSTER_CONFIG), None, {}) is None


def test_config_rejects_a_scheduler_address_with_spaces():
    with pytest.raises(ValueError, match=r"dask\.scheduler"):
        validate_config({**CLUSTER_CONFIG, "dask": {"scheduler": "tcp://a b:1"}})


def test_threads_follow_the_tasks_the_node_and_the_scheduler():
    cfg = validate_config(CLUSTER_CONFIG)
    # 3 layers (6, 4, output) x (4 recorded epochs + the initialisation) x 2 estimators
    assert estimation_tasks(cfg) == 30
    assert not serial_estimation(cfg)
    assert serial_estimation(validate_config(TINY_NETWORK_CONFIG)), "binning alone is cheapest serially"
    assert parallel_threads(15) == 8
    assert parallel_threads(15, node_cpus=2) == 2
    assert parallel_threads(3, node_cpus=64) == 3
    assert parallel_threads(15, node_cpus=2, scheduler="tcp://h:1") == 1
    assert estimation_mem_mb(cfg, 4) > estimation_mem_mb(cfg, 2) > estimation_mem_mb(cfg, 1)


def test_layer_widths_of_the_conv_net_follow_its_feature_maps():
    # 28x28 MNIST, 3x3 convs: 8 x 13 x 13 after the pool, 16 x 11 x 11, 32 x 9 x 9, then 32 and 10 units
    cfg = {"dataset": {"name": "mnist"}, "model": {"kind": "conv"}}
    assert layer_widths(cfg) == [1352, 1936, 2592, 32, 10]
    assert layer_widths({"dataset": {"name": "digits"}, "model": {"kind": "conv", "pool": False}})[0] == 8 * 6 * 6


def test_missing_slurm_skips_with_the_install_command(monkeypatch):
    import local_slurm

    monkeypatch.setattr(local_slurm.shutil, "which", lambda name: None)
    monkeypatch.setattr(local_slurm, "_installed", lambda name: False)
    reason = why_unavailable()
    assert reason.startswith("SLURM/munge not installed (munged, mungekey, slurmctld")
    assert "apt-get install -y slurm-wlm munge" in reason


def test_parse_sinfo_marks_the_default_partition():
    nodes = parse_sinfo("n1|debug*|2|24105\nn2|big|64|512000+\n")
    assert nodes == [SlurmNode("n1", "debug", 2, 24105, True), SlurmNode("n2", "big", 64, 512000, False)]


def test_check_jobs_fit_names_the_job_and_the_largest_node():
    nodes = parse_sinfo("n1|debug*|2|24105\nn2|big|64|512000\n")
    check_jobs_fit([JobRequest("train seed=0", 2, 1000, None), JobRequest("estimate seed=0", 64, 9000, "big")], nodes)
    with pytest.raises(ClusterError) as err:
        check_jobs_fit([JobRequest("estimate seed=0", 16, 16000, None)], nodes)
    assert str(err.value).startswith("job estimate seed=0 asks for 16 CPUs and 16000 MB, but the largest node "
                                     "of partition 'debug' has 2 CPUs and 24105 MB")
    with pytest.raises(ClusterError, match="asks for 1 CPUs and 999999 MB"):
        check_jobs_fit([JobRequest("train seed=0", 1, 999999, "big")], nodes)
    with pytest.raises(ClusterError, match="partition 'gpu' does not exist; partitions: big, debug"):
        check_jobs_fit([JobRequest("train seed=0", 1, 10, "gpu")], nodes)


# ---- helpers ---------------------------------------------------------------------------------------


def write_config(work: Path, **extra) -> Path:
    path = work / "tiny.yaml"
    path.write_text(yaml.safe_dump({**CLUSTER_CONFIG, **extra}))
    return path


def snakemake(work: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow with `work` as working directory; the target is the MI table only."""
    cmd = [sys.executable, "-m", "snakemake", str(MI_TABLE), "--snakefile", str(SNAKEFILE), *args]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The reference: the tiny study run locally (estimation on a 2-process LocalCluster)."""
    work = tmp_path_factory.mktemp("local")
    cfg = write_config(work)
    proc = snakemake(work, "--cores", "2", "--configfile", str(cfg))
    assert re.search(r"threads: 2\b", proc.stdout + proc.stderr), "the reference estimate should use 2 workers"
    return work


# ---- a real Dask cluster -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_scheduler_address(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes (1 thread each) on 127.0.0.1."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    commands = [["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"]]
    commands += [["worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                  "--no-dashboard", "--name", f"w{i}"] for i in range(2)]
    procs = []
    try:
        for i, args in enumerate(commands):
            with open(logs / f"{args[0]}{i}.log", "wb") as log:
                procs.append(subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log,
                                              stderr=subprocess.STDOUT, env=env, start_new_session=True))
            if i == 0:
                time.sleep(1)
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def scheduler_transitions(address: str) -> int:
    """Task state transitions the scheduler has seen (grows when a job sends it work)."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)


def copy_without_mi(local: Path, dest: Path) -> Path:
    """The reference run's directory without its MI tables, so that only estimation reruns."""
    shutil.copytree(local, dest, symlinks=True)
    results = dest / "results" / "tiny"
    for path in results.glob("mi*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(dest / ".snakemake" / "locks", ignore_errors=True)
    return dest


@pytest.mark.parametrize("via", ["environment", "config"])
def test_dask_scheduler_reproduces_the_local_table(via, local_run, dask_scheduler_address, tmp_path):
    work = copy_without_mi(local_run, tmp_path / "work")
    env = {k: v for k, v in os.environ.items() if k != "INFOPLANE_DASK_SCHEDULER"}
    if via == "environment":
        env["INFOPLANE_DASK_SCHEDULER"] = dask_scheduler_address
        cfg = write_config(work)
    else:
        cfg = write_config(work, dask={"scheduler": dask_scheduler_address})
    before = scheduler_transitions(dask_scheduler_address)
    # mtime only: the config-key run writes a new resolved config, which is not a reason to retrain
    proc = snakemake(work, "--cores", "2", "--configfile", str(cfg), "--rerun-triggers", "mtime", env=env)
    log = proc.stdout + proc.stderr
    assert not re.search(r"threads: [2-9]", log), log  # a scheduler does the work: 1 CPU per job
    assert scheduler_transitions(dask_scheduler_address) > before, "no task reached the Dask scheduler"
    assert_same_table(work / MI_TABLE, local_run / MI_TABLE)


# ---- a real SLURM cluster ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    root = Path("/tmp") / f"infoplane-slurm-{os.getpid()}"  # short: the munge socket path has a limit
    shutil.rmtree(root, ignore_errors=True)
    cluster = LocalSlurm(root).start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


#: Partition on the command line (as a user would), and fast status polling for the test.
SLURM_ARGS = ("--profile", str(SLURM_PROFILE), "--slurm-init-seconds-before-status-checks", "1",
              "--seconds-between-status-checks", "2")


def submitted_job_ids(log: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", log)


def test_slurm_profile_reproduces_the_local_table(slurm, local_run, tmp_path):
    cfg = write_config(tmp_path)
    proc = snakemake(tmp_path, *SLURM_ARGS, "--configfile", str(cfg), "--default-resources",
                     "slurm_partition=debug", env=slurm.env(), timeout=900, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{log}\n{slurm.logs()}"
    ids = submitted_job_ids(log)
    assert len(ids) >= 2, log  # training and estimation went through sbatch; collect runs locally
    for job_id in ids:
        info = subprocess.run(["scontrol", "show", "job", job_id], env=slurm.env(), capture_output=True,
                              text=True, timeout=30, check=False).stdout
        assert "JobState=COMPLETED" in info and "Partition=debug" in info, info
    assert_same_table(tmp_path / MI_TABLE, local_run / MI_TABLE)


def test_slurm_job_larger_than_any_node_stops_with_one_line(slurm, tmp_path):
    cfg = write_config(tmp_path)
    too_many = slurm.cpus + 1
    proc = snakemake(tmp_path, *SLURM_ARGS, "--configfile", str(cfg), "--default-resources",
                     "slurm_partition=debug", f"cpus_per_task={too_many}", env=slurm.env(), timeout=180,
                     check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    lines = [line for line in proc.stderr.splitlines() if line.startswith("infoplane: job ")]
    assert len(lines) == 1, log
    assert f"asks for {too_many} CPUs" in lines[0], lines[0]
    assert f"the largest node of partition 'debug' has {slurm.cpus} CPUs" in lines[0], lines[0]
    assert not submitted_job_ids(log), log
    queue = subprocess.run(["squeue", "-h"], env=slurm.env(), capture_output=True, text=True, timeout=30,
                           check=False)
    assert queue.stdout.strip() == "", queue.stdout
