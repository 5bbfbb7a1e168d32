# Validation of the config at load time, paths and input functions. No lambdas in rules.
import os
import re
import sys

from infoplane.config import (
    STAGE_SECTIONS,
    ConfigError,
    condition_configs,
    seed_groups,
    stage_hash,
    validate_config,
    write_stage_config,
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
# A sweep (config key `sweep`) is a grid of conditions: condition directory ("<name>/") -> its
# config (base + overrides). A study without a sweep is one condition, "", the study itself: its
# paths and jobs are exactly those of a study that knows nothing of sweeps.
SWEEP = "sweep" in config
CONDITIONS = {
    (f"{name}/" if name else ""): cfg for name, cfg in condition_configs(config).items()
}

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
    group=r"seeds(-\d+)+",
    stage="|".join(STAGE_SECTIONS),
    hash=r"[0-9a-f]{16}",
    cond="(?:" + "|".join(re.escape(c) for c in CONDITIONS) + ")",


def is_network_study():
    return "model" in config


def cond_config(wildcards):
    """The config of the job's condition (the study's config without a sweep)."""
    return CONDITIONS[wildcards.cond]


def uses_x_compressor():
    return is_network_study() and config["compression"]["x"]["method"] != "none"


def uses_compression():
    comp = config["compression"]
    return is_network_study() and (
        comp["x"]["method"] != "none" or comp["layers"]["method"] != "none"
    )


def stage_config_file(stage, cfg=config):
    """The config file a stage's jobs read: `.config/<stage>-<hash>.yaml`, where the hash covers
    only the sections that stage reads (infoplane.config.STAGE_SECTIONS). The jobs take it as an
    input, so a change to a section reruns exactly the stages that read it (and what follows);
    the file itself is written by rule stage_config, never while the workflow is parsed.
    """
    return f"{RESULTS}/.config/{stage}-{stage_hash(cfg, stage)}.yaml"


def stage_input(stage):
    """Input function: the stage config of the job's condition (conditions with equal sections
    share one file)."""

    def config_file(wildcards):
        return stage_config_file(stage, cond_config(wildcards))

    return config_file


def write_stage_file(stage, expected_hash, path):
    """Write a stage config (the body of rule stage_config); refuses a stale hash."""
    for cfg in [config, *CONDITIONS.values()]:
        if stage_hash(cfg, stage) == expected_hash:
            write_stage_config(cfg, stage, path)
            return
    raise ValueError(
        f"{path}: no condition's {stage} sections hash to {expected_hash} any more; "
        f"ask for {CONFIG_FILES[stage]} instead"
    )


CONFIG_FILES = {stage: stage_config_file(stage) for stage in STAGE_SECTIONS}
SEED_GROUPS = seed_groups(config) if is_network_study() else {}
FIRST_GROUP = next(iter(SEED_GROUPS), None)


def group_stores(directory, group):
    return [f"{directory}/seed{seed}.zarr" for seed in SEED_GROUPS[group]]


def get_group_runtime(minutes_per_seed):
    """A `runtime` resource (minutes) that grows with the number of seeds in the job's group."""

    def runtime(wildcards):
        return minutes_per_seed * len(SEED_GROUPS[wildcards.group])

    return runtime


def get_group_seeds(wildcards):
    return " ".join(str(seed) for seed in SEED_GROUPS[wildcards.group])


def get_activation_stores(wildcards, input):
    return group_stores(input.acts, wildcards.group)


def get_estimation_dir(wildcards):
    kind = "compressed" if uses_compression() else "activations"
    return f"{RESULTS}/{wildcards.cond}{kind}/{wildcards.group}"


def get_estimation_stores(wildcards, input):
    return group_stores(input.stores, wildcards.group)


def get_x_compressor(wildcards):
    return (
        [f"{RESULTS}/{wildcards.cond}compressors/x.npz"] if uses_x_compressor() else []
    )


def get_x_compressor_arg(wildcards, input):
    return f"--x-compressor {input.x_compressor}" if input.x_compressor else ""


def get_first_group_dir(wildcards):
    return f"{RESULTS}/{wildcards.cond}activations/{FIRST_GROUP}"


def get_first_store(wildcards, input):
    return group_stores(input.acts, FIRST_GROUP)[0]


def get_mi_tables(wildcards):
    return expand(f"{RESULTS}/{wildcards.cond}mi/{{group}}.csv", group=SEED_GROUPS)


def get_geometry_tables(wildcards):
    return expand(
        f"{RESULTS}/{wildcards.cond}geometry/{{group}}.csv", group=SEED_GROUPS
    )


def get_metric_tables(wildcards):
    return expand(f"{RESULTS}/{wildcards.cond}metrics/{{group}}.csv", group=SEED_GROUPS)


def get_sgd_tables(wildcards):
    return expand(f"{RESULTS}/{wildcards.cond}sgd/{{group}}.csv", group=SEED_GROUPS)


def get_condition_tables(name):
    """Input function of the sweep's collect: every condition's `name` table, in sweep order."""

    def tables(wildcards):
        return [f"{RESULTS}/{cond}{name}" for cond in CONDITIONS]

    return tables


def get_condition_names(wildcards):
    return " ".join(cond.rstrip("/") for cond in CONDITIONS)


from infoplane.plots.names import (
    COMPARISON_FIGURES,
    FIGURE_FORMATS,
    NETWORK_FIGURES,
    REPORT_CATEGORY,
    SWEEP_FIGURES,
    SYNTHETIC_FIGURES,
    VALIDATION_FIGURES,
)


def figure_files(figures, formats=FIGURE_FORMATS, cond=""):
    return expand(
        f"{RESULTS}/{cond}figures/{{fig}}.{{ext}}",
        fig=figures,
        ext=formats,
        allow_missing=True,
    )


def report_figures(figures, cond=""):
    """The PNGs of `figures`, each in the report with its caption and category."""
    from snakemake.io import report as in_report

    return [
        in_report(
            f"{RESULTS}/{cond}figures/{fig}.png",
            caption=f"../report/{fig}.rst",
            category=REPORT_CATEGORY[fig],
        )
        for fig in figures
    ]


def uses_clustering():
    return is_network_study() and bool(config["analysis"].get("clustering", False))


def comparison_figures(level):
    """The COMPARISON_FIGURES a figure job draws, decided from the config: `condition` = the
    figures rule (each condition's, or the study's without a sweep), `sweep` = the sweep's.
    compression_grid and late_drop compare conditions and estimators: the sweep draws them for
    all its conditions, a study without a sweep when it has them (the grid with more than one
    estimator); clustering is drawn per condition when `analysis.clustering` is true."""
    if not is_network_study():
        return []
    wanted = set()
    if level == "sweep" or not SWEEP:
        wanted.add("late_drop")
        if SWEEP or len(config["estimators"]) > 1:
            wanted.add("compression_grid")
    if level == "condition" and uses_clustering():
        wanted.add("clustering")
    return [fig for fig in COMPARISON_FIGURES if fig in wanted]


CONDITION_FIGURES = [*NETWORK_FIGURES, *comparison_figures("condition")]
SWEEP_STUDY_FIGURES = [*SWEEP_FIGURES, *comparison_figures("sweep")]


def get_comparison_arg(level):
    """Params function: `--also <figures>` for the job's comparison figures ('' for none)."""

    def arg(wildcards):
        figures = comparison_figures(level)
        return f"--also {' '.join(figures)}" if figures else ""

    return arg


def get_geometry_table(wildcards):
    return [f"{RESULTS}/{wildcards.cond}geometry.csv"] if uses_clustering() else []


def get_geometry_arg(wildcards, input):
    return f"--geometry {input.geometry}" if input.geometry else ""


def get_final_outputs():
    outputs = []
    if is_network_study():
        outputs += [
            f"{RESULTS}/mi.csv",
            f"{RESULTS}/mi.nc",
            f"{RESULTS}/metrics.csv",
            f"{RESULTS}/summary.csv",
            f"{RESULTS}/geometry.csv",
            f"{RESULTS}/sgd.csv",
        ]
        for cond in CONDITIONS:
            outputs += figure_files(CONDITION_FIGURES, cond=cond)
        if SWEEP:
            outputs += figure_files(SWEEP_STUDY_FIGURES)
    if "validation" in config:
        outputs += [
            f"{RESULTS}/validation.csv",
            f"{RESULTS}/validation_summary.csv",
            *figure_files(VALIDATION_FIGURES),
        ]
    if "synthetic" in config:
        outputs += [
            f"{RESULTS}/synthetic.csv",
            f"{RESULTS}/synthetic_summary.csv",
            *figure_files(SYNTHETIC_FIGURES),
        ]
    return outputs


def get_figure_dir(wildcards, output):
    return os.path.dirname(output.pngs[0])


def get_figure_stem(wildcards, output):
    return os.path.splitext(output.png[0])[0]


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

    from infoplane.cluster import serial_estimation

    if serial_estimation(config):
        return 1
    seeds = len(SEED_GROUPS[wildcards.group])
    cfg = cond_config(wildcards)
    return parallel_threads(
        estimation_tasks(cfg, seeds), _node_cpus(), dask_scheduler(config)
    )


def estimate_mem_mb(wildcards, threads, attempt):
    from infoplane.cluster import estimation_mem_mb

    return estimation_mem_mb(cond_config(wildcards), threads) * attempt


def train_threads(wildcards):
    return config["training"]["threads"]


def train_mem_mb(wildcards, attempt):
    from infoplane.cluster import training_mem_mb

    seeds = len(SEED_GROUPS[wildcards.group])
    return training_mem_mb(cond_config(wildcards), seeds) * attempt


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
