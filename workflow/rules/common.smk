# Validation of the config at load time, paths and input functions. No lambdas in rules.
import os
import sys

from infoplane.config import (
    ESTIMATION_SECTIONS,
    ConfigError,
    config_hash,
    validate_config,
)


def _config_source():
    files = list(getattr(workflow, "overwrite_configfiles", None) or [])
    return str(files[-1]) if files else "config/config.yaml"


try:
    _validated = validate_config(config, source=_config_source())
except ConfigError as _err:
    sys.exit(f"infoplane: invalid config: {_err}")
config.clear()
config.update(_validated)

STUDY = config["study"]
RESULTS = f"results/{STUDY}"

# A run that was SIGKILLed leaves Snakemake's directory lock behind; release it (only in the main
# process, and only when no other Snakemake run works in this directory) so that the plain
# rerun the README gives just works. See infoplane.locks.
if workflow.is_main_process:
    from infoplane.locks import release_stale_locks

    if release_stale_locks("."):
        print(
            "infoplane: released Snakemake's lock left by a run that was killed "
            "(no other snakemake process works in this directory)",
            file=sys.stderr,
        )


wildcard_constraints:
    seed=r"\d+",


def is_network_study():
    return "model" in config


def uses_x_compressor():
    return is_network_study() and config["compression"]["x"]["method"] != "none"


def uses_compression():
    comp = config["compression"]
    return is_network_study() and (
        comp["x"]["method"] != "none" or comp["layers"]["method"] != "none"
    )


def resolved_config_path():
    """The validated config with defaults, written once under a content hash.

    Rules receive this path as a param (not an input), so editing one section of the config
    reruns only the rules whose `hash` param covers that section.
    """
    from pathlib import Path

    import yaml

    full = config_hash(config, tuple(sorted(config)))
    path = Path(RESULTS) / ".config" / f"{full}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return str(path)


CONFIG_FILE = resolved_config_path()
TRAIN_HASH = config_hash(config) if is_network_study() else ""
ESTIMATION_HASH = config_hash(config, ESTIMATION_SECTIONS) if is_network_study() else ""


def get_estimation_store(wildcards):
    if uses_compression():
        return f"{RESULTS}/compressed/seed{wildcards.seed}.zarr"
    return f"{RESULTS}/activations/seed{wildcards.seed}.zarr"


def get_x_compressor(wildcards):
    return [f"{RESULTS}/compressors/x.npz"] if uses_x_compressor() else []


def get_x_compressor_arg(wildcards, input):
    return f"--x-compressor {input.x_compressor}" if input.x_compressor else ""


def get_first_store(wildcards):
    return f"{RESULTS}/activations/seed{config['seeds'][0]}.zarr"


def get_mi_tables(wildcards):
    return expand(f"{RESULTS}/mi/seed{{seed}}.csv", seed=config["seeds"])


def get_metric_tables(wildcards):
    return expand(f"{RESULTS}/metrics/seed{{seed}}.csv", seed=config["seeds"])


NETWORK_FIGURES = ["information_plane", "mi_vs_epoch", "training_curves", "dynamics"]


def get_final_outputs():
    outputs = []
    if is_network_study():
        outputs += [f"{RESULTS}/mi.csv", f"{RESULTS}/mi.nc", f"{RESULTS}/metrics.csv"]
        outputs += expand(
            f"{RESULTS}/figures/{{fig}}.{{ext}}",
            fig=NETWORK_FIGURES,
            ext=["png", "pdf"],
        )
    if "validation" in config:
        outputs += [
            f"{RESULTS}/validation.csv",
            f"{RESULTS}/validation_summary.csv",
            f"{RESULTS}/figures/estimator_validation.png",
        ]
    if "synthetic" in config:
        outputs += [
            f"{RESULTS}/synthetic.csv",
            f"{RESULTS}/synthetic_summary.csv",
            f"{RESULTS}/figures/synthetic_images.png",
        ]
    return outputs


def get_figure_dir(wildcards, output):
    return os.path.dirname(output.plane)


def get_figure_stem(wildcards, output):
    return os.path.splitext(output.png)[0]


# ---- Job sizes, derived from the study (infoplane.cluster documents the model) -----------------
# Threads and memory follow what a job does: estimation runs one single-threaded Dask worker per
# (layer, epoch, estimator) task up to infoplane.cluster.MAX_JOB_THREADS, capped on SLURM by the
# largest node of the default partition; training uses `training.threads` torch threads. With a
# Dask scheduler (dask.scheduler or $INFOPLANE_DASK_SCHEDULER) estimation jobs ask for 1 CPU.
# A retried job (the SLURM profile retries once, e.g. after the OOM killer) asks for twice the memory.
def _on_slurm():
    plugin = getattr(workflow, "executor_plugin", None)
    return getattr(plugin, "name", None) == "slurm"


def _slurm_nodes():
    from infoplane.cluster import ClusterError, slurm_nodes

    if "nodes" not in _SLURM_CACHE:
        try:
            _SLURM_CACHE["nodes"] = slurm_nodes()
        except ClusterError as err:
            print(
                f"infoplane: cannot check job sizes against the cluster: {err}",
                file=sys.stderr,
            )
            _SLURM_CACHE["nodes"] = None
    return _SLURM_CACHE["nodes"]


_SLURM_CACHE = {}


def _node_cpus():
    from infoplane.cluster import largest_node_cpus

    nodes = _slurm_nodes() if _on_slurm() else None
    return largest_node_cpus(nodes) if nodes else None


def estimate_threads(wildcards):
    from infoplane.cluster import dask_scheduler, estimation_tasks, parallel_threads

    return parallel_threads(
        estimation_tasks(config), _node_cpus(), dask_scheduler(config)
    )


def estimate_mem_mb(wildcards, threads, attempt):
    from infoplane.cluster import estimation_mem_mb

    return estimation_mem_mb(config, threads) * attempt


def train_threads(wildcards):
    return config["training"]["threads"]


def train_mem_mb(wildcards, attempt):
    from infoplane.cluster import training_mem_mb

    return training_mem_mb(config) * attempt


def grid_threads(wildcards):
    from infoplane.cluster import MAX_JOB_THREADS, dask_scheduler, parallel_threads

    return parallel_threads(MAX_JOB_THREADS, _node_cpus(), dask_scheduler(config))


def grid_mem_mb(wildcards, threads, attempt):
    return (4000 + 1000 * threads) * attempt


def _job_request(job):
    from infoplane.cluster import JobRequest

    res = job.resources
    cpus = int(res.get("cpus_per_task") or job.threads)
    mem = res.get("mem_mb")
    if res.get("mem_mb_per_cpu"):
        mem = int(res.get("mem_mb_per_cpu")) * cpus
    return JobRequest(
        job=" ".join(
            [job.rule.name, *(f"{k}={v}" for k, v in job.wildcards_dict.items())]
        ),
        cpus=cpus,
        mem_mb=int(mem) if isinstance(mem, (int, float)) else None,
        partition=res.get("slurm_partition") or None,
    )


def check_jobs_fit_slurm():
    """Stop before submitting when a job asks more than any node of its partition has."""
    from infoplane.cluster import ClusterError, check_jobs_fit

    nodes = _slurm_nodes() if _on_slurm() else None
    if not nodes:
        return
    jobs = [job for job in workflow.dag.needrun_jobs() if not job.is_local]
    try:
        check_jobs_fit([_job_request(job) for job in jobs], nodes)
    except ClusterError as err:
        sys.exit(f"infoplane: {err}")


onstart:
    check_jobs_fit_slurm()
