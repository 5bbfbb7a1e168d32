# Validation of the config at load time, paths and input functions. No lambdas in rules.
import os
import sys

from infoplane.config import (
    STAGE_SECTIONS,
    ConfigError,
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


def is_network_study():
    return "model" in config


def uses_x_compressor():
    return is_network_study() and config["compression"]["x"]["method"] != "none"


def uses_compression():
    comp = config["compression"]
    return is_network_study() and (
        comp["x"]["method"] != "none" or comp["layers"]["method"] != "none"
    )


def stage_config_file(stage):
    """The config file a stage's jobs read: `.config/<stage>-<hash>.yaml`, where the hash covers
    only the sections that stage reads (infoplane.config.STAGE_SECTIONS). The jobs take it as an
    input, so a change to a section reruns exactly the stages that read it (and what follows);
    the file itself is written by rule stage_config, never while the workflow is parsed.
    """
    return f"{RESULTS}/.config/{stage}-{stage_hash(config, stage)}.yaml"


def write_stage_file(stage, expected_hash, path):
    """Write a stage config (the body of rule stage_config); refuses a stale hash."""
    found = stage_hash(config, stage)
    if found != expected_hash:
        raise ValueError(
            f"{path}: the study config's {stage} sections now hash to {found}, not "
            f"{expected_hash}; ask for {CONFIG_FILES[stage]} instead"
        )
    write_stage_config(config, stage, path)


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
    return f"{RESULTS}/{kind}/{wildcards.group}"


def get_estimation_stores(wildcards, input):
    return group_stores(input.stores, wildcards.group)


def get_x_compressor(wildcards):
    return [f"{RESULTS}/compressors/x.npz"] if uses_x_compressor() else []


def get_x_compressor_arg(wildcards, input):
    return f"--x-compressor {input.x_compressor}" if input.x_compressor else ""


def get_first_group_dir(wildcards):
    return f"{RESULTS}/activations/{FIRST_GROUP}"


def get_first_store(wildcards, input):
    return group_stores(input.acts, FIRST_GROUP)[0]


def get_mi_tables(wildcards):
    return expand(f"{RESULTS}/mi/{{group}}.csv", group=SEED_GROUPS)


def get_metric_tables(wildcards):
    return expand(f"{RESULTS}/metrics/{{group}}.csv", group=SEED_GROUPS)


from infoplane.plots.names import (
    FIGURE_FORMATS,
    NETWORK_FIGURES,
    REPORT_CATEGORY,
    SYNTHETIC_FIGURES,
    VALIDATION_FIGURES,
)


def figure_files(figures, formats=FIGURE_FORMATS):
    return expand(f"{RESULTS}/figures/{{fig}}.{{ext}}", fig=figures, ext=formats)


def report_figures(figures):
    """The PNGs of `figures`, each in the report with its caption and category."""
    from snakemake.io import report as in_report

    return [
        in_report(
            f"{RESULTS}/figures/{fig}.png",
            caption=f"../report/{fig}.rst",
            category=REPORT_CATEGORY[fig],
        )
        for fig in figures
    ]


def get_final_outputs():
    outputs = []
    if is_network_study():
        outputs += [f"{RESULTS}/mi.csv", f"{RESULTS}/mi.nc", f"{RESULTS}/metrics.csv"]
        outputs += figure_files(NETWORK_FIGURES)
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
