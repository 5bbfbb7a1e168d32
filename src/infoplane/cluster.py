"""Running a study on a cluster: which Dask scheduler the estimation uses, how many CPUs and how
much memory each job asks for (derived from the study), and whether a SLURM cluster has a node
that can run every job at all.

A SLURM job that asks for more CPUs than any node of its partition has is accepted by ``sbatch``
and then stays pending forever (reason ``PartitionConfig``) while Snakemake waits without a word.
:func:`check_jobs_fit` turns that into a one-line error before anything is submitted; the workflow
calls it from its ``onstart`` handler with the jobs it is about to submit and :func:`slurm_nodes`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Environment variable with the address of a running Dask scheduler; overrides ``dask.scheduler``.
SCHEDULER_ENV = "INFOPLANE_DASK_SCHEDULER"

#: Most CPUs one job asks for by default (more rarely pays: estimation tasks are small and
#: big requests wait longer in the queue). ``snakemake --max-threads`` or ``--set-threads``
#: change it per run.
MAX_JOB_THREADS = 8

#: Resident memory of one Python process with the estimation stack imported (numpy, scipy,
#: numba, xarray, zarr, distributed): about 250 MB measured (tiny study, 2 workers: 750 MB for
#: the job), rounded up for larger stores' metadata and Dask's bookkeeping.
PROCESS_MB = 500
#: Resident memory of a training process (torch imported): about 310 MB measured on the tiny
#: study, rounded up.
TORCH_PROCESS_MB = 1000
#: Copies of one (layer, epoch) activation matrix a worker holds at once (the float32 chunk,
#: its float64 copy, the estimator's sorted/whitened arrays).
WORKING_COPIES = 4

#: (samples, input features) of the built-in datasets, by name (and MNIST's file split).
_DATASET_SHAPES = {"tishby_12bit": (4096, 12), "digits": (1797, 64), "mnist_test": (10000, 784),
                   "mnist_train": (60000, 784)}


class ClusterError(RuntimeError):
    """The cluster cannot run a job as requested (one line: rule, request, limits)."""


def dask_scheduler(cfg: Mapping[str, Any], cli: str | None = None,
                   environ: Mapping[str, str] | None = None) -> str | None:
    """The Dask scheduler address the estimation connects to, or None for a local cluster.

    Precedence, highest first: ``cli`` (``infoplane estimate --scheduler``), the environment
    variable ``INFOPLANE_DASK_SCHEDULER``, the config key ``dask.scheduler``. The environment
    overrides the config because the study file is shared and versioned while a scheduler's
    address belongs to one session; an empty variable counts as unset.
    """
    environ = os.environ if environ is None else environ
    for value in (cli, environ.get(SCHEDULER_ENV), (cfg.get("dask") or {}).get("scheduler")):
        if value and str(value).strip():
            return str(value).strip()
    return None


def _samples_and_inputs(cfg: Mapping[str, Any]) -> tuple[int, int]:
    data = cfg["dataset"]
    name = data["name"] if data["name"] != "mnist" else f"mnist_{data.get('split', 'test')}"
    samples, inputs = _DATASET_SHAPES[name]
    if data.get("size"):
        samples = min(samples, int(data["size"]))
    if cfg.get("record", {}).get("samples") == "eval":
        samples = max(1, round(samples * (1 - data.get("train_fraction", 0.8))))
    return samples, inputs


def layer_widths(cfg: Mapping[str, Any]) -> list[int]:
    """Units of every recorded layer of the study's network (MLP: hidden widths; conv: the
    conv net's feature maps as flattened by the store), without building the network."""
    model = cfg["model"]
    _, inputs = _samples_and_inputs(cfg)
    if model.get("kind", "mlp") == "mlp":
        return [int(w) for w in model.get("widths", [])] + [10]
    side = round(inputs ** 0.5)
    side = (side - 2) // 2 if model.get("pool", True) else side - 2
    return [8 * side ** 2, 16 * (side - 2) ** 2, 32 * (side - 4) ** 2, 32, 10]


def _working_mb(samples: int, units: int, bytes_per_value: int = 8) -> int:
    return int(samples * units * bytes_per_value * WORKING_COPIES / 2**20) + 1


def estimation_tasks(cfg: Mapping[str, Any], seeds: int = 1) -> int:
    """Independent Dask tasks of one estimation job: layers x recorded epochs x estimators x seeds
    (the number of recorded epochs is bounded by ``record.num_epochs`` + the initialisation)."""
    layers = cfg.get("analysis", {}).get("layers") or layer_widths(cfg)
    epochs = cfg.get("record", {}).get("num_epochs", 30) + int(cfg.get("record", {}).get("include_init", True))
    return max(1, len(layers) * epochs * len(cfg.get("estimators", [1])) * seeds)


def parallel_threads(tasks: int, node_cpus: int | None = None, scheduler: str | None = None) -> int:
    """CPUs for a job of ``tasks`` independent tasks: one per task up to :data:`MAX_JOB_THREADS`
    and the largest node's CPUs (``node_cpus``, when known); 1 when a Dask scheduler does the work."""
    if scheduler:
        return 1
    cap = min(MAX_JOB_THREADS, node_cpus) if node_cpus else MAX_JOB_THREADS
    return max(1, min(int(tasks), cap))


def serial_estimation(cfg: Mapping[str, Any]) -> bool:
    """Whether a network study's estimation jobs are cheapest serial (1 CPU): every estimator is
    cheap per (layer, epoch) (binning), so Dask workers would cost more to start than they save
    (measured: 25 seeds x 280 epochs x 7 layers of binning, 13-17 CPU s serially, 37-39 with 2
    workers; benchmarks/estimate_stage.py)."""
    from infoplane.estimators.base import is_cheap

    return all(is_cheap(e["name"]) for e in cfg.get("estimators", []))


def estimation_mem_mb(cfg: Mapping[str, Any], threads: int) -> int:
    """Memory (MB) of an estimation job with ``threads`` worker processes: the main process plus
    per worker a process and :data:`WORKING_COPIES` float64 copies of the widest layer."""
    samples, inputs = _samples_and_inputs(cfg)
    widest = max([inputs, *layer_widths(cfg)])
    workers = max(1, threads)
    return PROCESS_MB + workers * (PROCESS_MB + _working_mb(samples, widest))


def training_mem_mb(cfg: Mapping[str, Any], seeds: int = 1) -> int:
    """Memory (MB) of a training job of ``seeds`` networks: a torch process plus, per seed, the
    dataset and one epoch's recorded activations of every layer (float32), times
    :data:`WORKING_COPIES`."""
    samples, inputs = _samples_and_inputs(cfg)
    per_seed = _working_mb(samples, inputs + sum(layer_widths(cfg)), bytes_per_value=4)
    return TORCH_PROCESS_MB + max(1, seeds) * per_seed


@dataclass(frozen=True)
class SlurmNode:
    """One node as ``sinfo`` reports it: name, partition, CPUs, memory (MB)."""

    name: str
    partition: str
    cpus: int
    mem_mb: int
    default: bool = False


@dataclass(frozen=True)
class JobRequest:
    """What one job asks SLURM for."""

    job: str  # rule name and wildcards, as a user reads them
    cpus: int
    mem_mb: int | None
    partition: str | None


def parse_sinfo(text: str) -> list[SlurmNode]:
    """Parse ``sinfo -h -N -o '%N|%P|%c|%m'`` (a default partition carries a ``*``)."""
    nodes = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, part, cpus, mem = (f.strip() for f in line.split("|"))
        nodes.append(SlurmNode(name, part.rstrip("*"), int(cpus), int(mem.rstrip("+")), part.endswith("*")))
    return nodes


def slurm_nodes(timeout: float = 30.0) -> list[SlurmNode]:
    """Every node of every partition, from ``sinfo``; ClusterError when sinfo fails."""
    try:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%N|%P|%c|%m"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"cannot run sinfo: {exc}") from None
    if proc.returncode != 0:
        raise ClusterError(f"sinfo failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse_sinfo(proc.stdout)


def largest_node_cpus(nodes: Iterable[SlurmNode], partition: str | None = None) -> int | None:
    """CPUs of the largest node of ``partition`` (default partition when None); None if unknown."""
    chosen = [n for n in nodes if (n.partition == partition if partition else n.default)]
    return max((n.cpus for n in chosen), default=None)


def check_jobs_fit(requests: Iterable[JobRequest], nodes: list[SlurmNode]) -> None:
    """Raise ClusterError naming the first job that no node of its partition can run.

    A job fits when one node of its partition (the default partition when it names none) has at
    least its CPUs and memory. Memory is checked only where the job gives one.
    """
    for req in requests:
        part = req.partition or next((n.partition for n in nodes if n.default), None)
        where = [n for n in nodes if n.partition == part]
        if not where:
            names = sorted({n.partition for n in nodes})
            raise ClusterError(f"job {req.job}: partition {part!r} does not exist; partitions: {', '.join(names)}")
        if any(n.cpus >= req.cpus and (req.mem_mb is None or n.mem_mb >= req.mem_mb) for n in where):
            continue
        cpus = max(n.cpus for n in where)
        mem = max(n.mem_mb for n in where)
        asks = f"{req.cpus} CPUs" + (f" and {req.mem_mb} MB" if req.mem_mb is not None else "")
        raise ClusterError(
            f"job {req.job} asks for {asks}, but the largest node of partition {part!r} has {cpus} CPUs "
            f"and {mem} MB, so SLURM would keep it pending forever; lower its threads or mem_mb "
            f"(snakemake --max-threads {cpus}, --set-threads/--set-resources) or choose a larger partition"
        )
