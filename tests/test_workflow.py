"""The Snakemake workflow: lint, dry runs of every shipped study, bad configs, and a real run of a
tiny network study through the whole DAG (train -> store -> estimate -> table -> figures -> report).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from infoplane.tables import SGD_COLUMNS

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
STUDIES = sorted((REPO / "config" / "studies").glob("*.yaml"))


def snakemake(*args: str, cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "--snakefile", str(SNAKEFILE), *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(dry_run_output: str) -> list[tuple[str, list[str]]]:
    """The jobs a `snakemake -n` printed, as (rule, outputs), in print order; without `all`.

    Each job block starts with `rule <name>:` (or `localrule <name>:`) and lists `output: a, b`.
    The list is checked against the job-count table, so a change of Snakemake's output format
    fails here instead of making every plan look empty.
    """
    if "Nothing to be done" in dry_run_output:
        return []
    jobs: list[tuple[str, list[str]]] = []
    rule = None
    for line in dry_run_output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
            jobs.append((rule, []))
        elif rule and line.startswith("    output: "):
            jobs[-1][1].extend(line[len("    output: "):].split(", "))
        elif not line.startswith("    "):
            rule = None
    jobs = [job for job in jobs if job[0] != "all"]
    assert Counter(rule for rule, _ in jobs) == Counter(jobs_planned(dry_run_output)), dry_run_output
    return jobs


def jobs_planned(dry_run_output: str) -> dict[str, int]:
    """Parse the job-count table of `snakemake -n` into {rule: count} (without `all`).

    {} only when Snakemake says there is nothing to be done; a missing or malformed table fails.
    """
    if "Nothing to be done" in dry_run_output:
        return {}
    lines = dry_run_output.splitlines()
    start = lines.index("Job stats:")  # ValueError (a failure) when there is no table
    assert lines[start + 1].split() == ["job", "count"], lines[start:start + 3]
    counts: dict[str, int] = {}
    for row in lines[start + 3:]:
        name, count = row.split()
        if name == "total":
            assert int(count) == sum(counts.values()), lines[start:]
            break
        counts[name] = int(count)
    counts.pop("all", None)
    return counts


def test_lint_is_clean():
    proc = snakemake("--lint", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_snakefmt_is_clean():
    pytest.importorskip("snakefmt")
    files = [str(SNAKEFILE), *map(str, sorted((REPO / "workflow" / "rules").glob("*.smk")))]
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def expected_fresh_plan(cfg: dict) -> dict[str, int]:
    """The jobs of a study that has never run: from the config, by infoplane's own rules."""
    from infoplane.config import (
        condition_configs,
        seed_groups,
        stage_hash,
        validate_config,
    )

    cfg = validate_config(cfg)
    plan: dict[str, int] = {}
    if "model" in cfg:
        conds = condition_configs(cfg)  # one condition, the study itself, without a sweep
        n = len(conds)
        groups = len(seed_groups(cfg)) * n
        comp = cfg["compression"]
        compress = comp["x"]["method"] != "none" or comp["layers"]["method"] != "none"
        plan.update(train=groups, estimate=groups, collect=n, figures=n)
        stages = ["train", "compress", "estimate", "collect", "figures"] if compress else [
            "train", "estimate", "collect", "figures"]
        # One stage config per distinct (stage, hash): conditions with equal sections share one.
        plan["stage_config"] = len({(s, stage_hash(c, s)) for s in stages for c in conds.values()})
        if compress:
            plan["compress"] = groups
        if comp["x"]["method"] != "none":
            plan["fit_x_compressor"] = n
        if "sweep" in cfg:
            plan.update(collect_sweep=1, sweep_figure=1)
            plan["stage_config"] += 1
    for kind in ("validation", "synthetic"):
        if kind in cfg:
            plan.update({f"{kind}_grid": 1, f"{kind}_figure": 1})
            plan["stage_config"] = plan.get("stage_config", 0) + 1
    if "synthetic" in cfg:  # one autoencoder per (image, seed), from its own stage config
        syn = cfg["synthetic"]
        plan["synthetic_autoencoder"] = len(syn["images"]) * len(syn["seeds"])
        plan["stage_config"] += 1
    return plan


def test_dry_run_default_study(tmp_path):
    """The default study's plan in a fresh directory: one train and one estimate job per group."""
    default = REPO / "config" / "config.yaml"
    proc = snakemake("-n", "--cores", "2", "--configfile", str(default), "--directory", str(tmp_path))
    cfg = yaml.safe_load(default.read_text())
    plan = jobs_planned(proc.stdout)
    assert plan == expected_fresh_plan(cfg), proc.stdout
    assert plan["train"] == len(cfg["seeds"]) == 3  # seeds_per_job defaults to 1
    trained = sorted(out for rule, outs in planned_jobs(proc.stdout) if rule == "train" for out in outs)
    study = f"results/{cfg['study']}"
    assert trained == sorted([f"{study}/activations/seeds-{s}" for s in cfg["seeds"]]
                             + [f"{study}/metrics/seeds-{s}.csv" for s in cfg["seeds"]]
                             + [f"{study}/sgd/seeds-{s}.csv" for s in cfg["seeds"]])


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.stem)
def test_dry_run_every_study(study, tmp_path):
    proc = snakemake("-n", "--cores", "2", "--configfile", str(study), "--directory", str(tmp_path))
    cfg = yaml.safe_load(study.read_text())
    assert jobs_planned(proc.stdout) == expected_fresh_plan(cfg), proc.stdout
    assert not (tmp_path / "results").exists(), "parsing the workflow must not write files"


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"training": {"epochs": -5}}, "training.epochs: -5 is out of range; must be >= 1"),
        ({"model": {"activation": "tanhh"}}, "model.activation: 'tanhh' is not allowed"),
        ({"trainig": {}}, "unknown key 'trainig' (did you mean \"training\"?)"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, tiny_config, edit, message):
    for key, value in edit.items():
        if key in tiny_config and isinstance(value, dict):
            tiny_config[key].update(value)
        else:
            tiny_config[key] = value
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))
    proc = snakemake("--cores", "1", "--configfile", str(cfg), "--directory", str(tmp_path), check=False)
    assert proc.returncode != 0
    err_lines = [line for line in proc.stderr.splitlines() if "invalid config" in line]
    assert len(err_lines) == 1, proc.stderr
    assert message in err_lines[0]
    assert str(cfg) in err_lines[0]
    assert not (tmp_path / "results" / "tiny" / "activations").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Run a tiny 12-bit study through the whole DAG once (MI on every split, with the class
    clustering); share the result directory."""
    from conftest import TINY_NETWORK_CONFIG

    work = tmp_path_factory.mktemp("tiny_study")
    cfg = copy.deepcopy(TINY_NETWORK_CONFIG)
    cfg["analysis"] = {"split": ["all", "train", "test"], "clustering": True}
    cfg_path = work / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = snakemake("--cores", "2", "--configfile", str(cfg_path), "--directory", str(work))
    return work, cfg_path, cfg, proc


def test_tiny_study_produces_table_and_figures(tiny_run):
    work, _, cfg, _ = tiny_run
    res = work / "results" / "tiny"
    mi = pd.read_csv(res / "mi.csv", dtype={"layer": str})
    assert list(mi.columns[:7]) == ["seed", "layer", "layer_index", "epoch", "split", "estimator", "I_XT"]
    assert set(mi["seed"]) == set(cfg["seeds"])
    assert set(mi["layer"]) == {"1", "2", "softmax"}
    assert (mi["status"] == "ok").all()
    assert mi.groupby("split").size().to_dict() == {s: len(mi) // 3 for s in ("all", "train", "test")}
    # I(X;T) <= H(X) = 12 bits; I(T;Y) <= H(Y) = 0.9992 bits for the 12-bit labels (<= 1 bit on a
    # split, whose labels are balanced differently).
    assert mi["I_XT"].between(0, 12 + 1e-9).all()
    assert mi.loc[mi["split"] == "all", "I_TY"].between(0, 0.9992 + 1e-4).all()
    assert mi["I_TY"].between(0, 1 + 1e-9).all()
    # a split's I(X;T) = H(T) of its samples <= log2(its samples): 3277 train, 819 test of 4096
    for split, n in (("train", 3277), ("test", 819)):
        assert mi.loc[mi["split"] == split, "I_XT"].max() <= np.log2(n) + 1e-9
    geo = pd.read_csv(res / "geometry.csv", dtype={"layer": str})
    assert list(geo.columns) == ["seed", "layer", "layer_index", "epoch", "split", "act_min", "act_max",
                                 "clustering"]
    assert len(geo) == len(mi)  # one estimator: one geometry row per MI row
    assert geo["clustering"].between(-1, 1).all() and (geo["act_min"] <= geo["act_max"]).all()
    hidden = geo[geo["layer"] != "softmax"]
    assert hidden["act_min"].ge(-1).all() and hidden["act_max"].le(1).all(), "tanh layers"
    first = mi[(mi["layer"] == "1") & (mi["epoch"] == 0) & (mi["split"] == "all")]
    assert (first["I_XT"] > 8).all(), "the first hidden layer of a fresh tanh net keeps most of the 12 bits"
    metrics = pd.read_csv(res / "metrics.csv")
    assert set(metrics["epoch"]) == set(range(cfg["training"]["epochs"] + 1))
    sgd = pd.read_csv(res / "sgd.csv", dtype={"layer": str})
    assert list(sgd.columns) == list(SGD_COLUMNS) and set(sgd["seed"]) == set(cfg["seeds"])
    assert set(sgd["layer"]) == {"1", "2", "logits"} and (sgd["weight_norm"] > 0).all()
    for fig in ("information_plane", "mi_vs_epoch", "training_curves", "dynamics", "sgd_phases"):
        for ext in ("png", "pdf"):
            path = res / "figures" / f"{fig}.{ext}"
            assert path.stat().st_size > 5000, path
    import matplotlib.image

    img = matplotlib.image.imread(res / "figures" / "information_plane.png")
    assert img.ndim == 3 and float(np.std(img)) > 0.01


def test_tiny_store_schema(tiny_run):
    import xarray as xr

    work, _, cfg, _ = tiny_run
    store = work / "results" / "tiny" / "activations" / "seeds-0" / "seed0.zarr"
    ds = xr.open_zarr(store, consolidated=False)
    assert ds.attrs["complete"] is True
    assert ds.attrs["seed"] == 0
    assert ds.attrs["layers"] == ["1", "2", "softmax"]
    for layer, width in (("1", 6), ("2", 4), ("softmax", 2)):
        var = ds[f"act_{layer}"]
        assert var.dims == ("epoch", "sample", f"unit_{layer}")
        assert var.shape[1:] == (4096, width)
        assert var.encoding["chunks"] == (1, 4096, width), "a (layer, epoch) slice must be one chunk"


def test_mi_netcdf_matches_csv(tiny_run):
    import xarray as xr

    work, *_ = tiny_run
    res = work / "results" / "tiny"
    mi = pd.read_csv(res / "mi.csv", dtype={"layer": str})
    with xr.open_dataset(res / "mi.nc") as ds:
        assert set(ds["I_XT"].dims) == {"estimator", "seed", "layer", "epoch", "split"}
        assert list(ds["split"].values) == ["all", "train", "test"]
        assert ds["I_XT"].attrs["units"] == "bits"
        row = mi.iloc[len(mi) // 2 + 1]
        val = ds["I_XT"].sel(estimator=row["estimator"], seed=row["seed"], layer=row["layer"], epoch=row["epoch"],
                             split=row["split"])
        assert float(val) == pytest.approx(row["I_XT"])


def test_rerun_does_nothing_and_figures_regenerate_alone(tiny_run):
    work, cfg_path, _, _ = tiny_run
    proc = snakemake("-n", "--cores", "2", "--configfile", str(cfg_path), "--directory", str(work))
    assert jobs_planned(proc.stdout) == {}, proc.stdout
    shutil.rmtree(work / "results" / "tiny" / "figures")
    proc = snakemake("-n", "--cores", "2", "--configfile", str(cfg_path), "--directory", str(work))
    assert jobs_planned(proc.stdout) == {"figures": 1}, proc.stdout
    snakemake("--cores", "2", "--configfile", str(cfg_path), "--directory", str(work))
    assert (work / "results" / "tiny" / "figures" / "information_plane.png").exists()


def plan_after_edit(tiny_run, name: str, edit) -> list[tuple[str, list[str]]]:
    """The jobs `snakemake -n` plans in the completed tiny study after ``edit(config)``."""
    work, _, cfg, _ = tiny_run
    edited = copy.deepcopy(cfg)
    edit(edited)
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(edited))
    proc = snakemake("-n", "--cores", "2", "--configfile", str(path), "--directory", str(work))
    return planned_jobs(proc.stdout)


def stage_files(jobs, study: str = "tiny") -> list[str]:
    """Names of the stage configs the plan writes, e.g. ['figures'], sorted."""
    outs = [out for rule, outputs in jobs if rule == "stage_config" for out in outputs]
    assert all(re.fullmatch(rf"results/{study}/\.config/[a-z_]+-[0-9a-f]{{16}}\.yaml", o) for o in outs), outs
    return sorted(Path(o).name.rsplit("-", 1)[0] for o in outs)


def test_figure_option_reruns_only_figures(tiny_run):
    def smooth(c):
        c.setdefault("figures", {}).update(smoothing={"enabled": True})

    jobs = plan_after_edit(tiny_run, "smooth", smooth)
    assert Counter(rule for rule, _ in jobs) == {"stage_config": 1, "figures": 1}, jobs
    assert stage_files(jobs) == ["figures"]


def test_estimator_option_reruns_estimation_not_training(tiny_run):
    jobs = plan_after_edit(tiny_run, "bins", lambda c: c["estimators"][0].update(bins=20))
    assert Counter(rule for rule, _ in jobs) == {"stage_config": 3, "estimate": 2, "collect": 1, "figures": 1}, jobs
    assert stage_files(jobs) == ["collect", "estimate", "figures"]
    estimated = sorted(out for rule, outs in jobs if rule == "estimate" for out in outs)
    assert estimated == [f"results/tiny/{kind}/seeds-{s}.csv" for kind in ("geometry", "mi") for s in (0, 1)]


def test_split_option_reruns_estimation_and_figures_not_training(tiny_run):
    jobs = plan_after_edit(tiny_run, "split", lambda c: c["analysis"].update(split=["train", "test"]))
    assert Counter(rule for rule, _ in jobs) == {"stage_config": 3, "estimate": 2, "collect": 1, "figures": 1}, jobs
    assert stage_files(jobs) == ["collect", "estimate", "figures"]
    assert sorted(out for rule, outs in jobs if rule == "estimate" for out in outs) == [
        f"results/tiny/{kind}/seeds-{s}.csv" for kind in ("geometry", "mi") for s in (0, 1)]


def test_clustering_option_reruns_estimation_and_collect_only(tiny_run):
    jobs = plan_after_edit(tiny_run, "noclust", lambda c: c["analysis"].update(clustering=False))
    # the figures rerun (their input mi.csv is rewritten) without a new figures stage config
    assert Counter(rule for rule, _ in jobs) == {"stage_config": 2, "estimate": 2, "collect": 1, "figures": 1}, jobs
    assert stage_files(jobs) == ["collect", "estimate"]


def test_added_seed_trains_only_its_group(tiny_run):
    def add_seed(c):
        c["seeds"].append(2)
        c["training"]["seeds_per_job"] = 1  # the default, spelled out: no change by itself

    jobs = plan_after_edit(tiny_run, "more_seeds", add_seed)
    assert Counter(rule for rule, _ in jobs) == {
        "stage_config": 1, "train": 1, "estimate": 1, "collect": 1, "figures": 1}, jobs
    assert stage_files(jobs) == ["collect"]  # collect records the seed list; training is unchanged
    assert dict(jobs)["train"] == ["results/tiny/activations/seeds-2", "results/tiny/metrics/seeds-2.csv",
                                   "results/tiny/sgd/seeds-2.csv"]
    assert dict(jobs)["estimate"] == ["results/tiny/mi/seeds-2.csv", "results/tiny/geometry/seeds-2.csv"]


def test_training_option_reruns_every_training_job(tiny_run):
    jobs = plan_after_edit(tiny_run, "lr", lambda c: c["training"].update(lr=0.02))
    assert Counter(rule for rule, _ in jobs) == {
        "stage_config": 3, "train": 2, "estimate": 2, "collect": 1, "figures": 1}, jobs
    assert stage_files(jobs) == ["collect", "estimate", "train"]
    trained = sorted(out for rule, outs in jobs if rule == "train" for out in outs)
    assert trained == ["results/tiny/activations/seeds-0", "results/tiny/activations/seeds-1",
                       "results/tiny/metrics/seeds-0.csv", "results/tiny/metrics/seeds-1.csv",
                       "results/tiny/sgd/seeds-0.csv", "results/tiny/sgd/seeds-1.csv"]


def test_seeds_per_job_regroups_without_new_stage_configs(tiny_run):
    jobs = plan_after_edit(tiny_run, "grouped", lambda c: c["training"].update(seeds_per_job=2))
    assert Counter(rule for rule, _ in jobs) == {"train": 1, "estimate": 1, "collect": 1, "figures": 1}, jobs
    assert dict(jobs)["train"] == ["results/tiny/activations/seeds-0-1", "results/tiny/metrics/seeds-0-1.csv",
                                   "results/tiny/sgd/seeds-0-1.csv"]


def test_report_is_generated(tiny_run):
    work, cfg_path, _, _ = tiny_run
    report = work / "report.html"
    snakemake("--configfile", str(cfg_path), "--directory", str(work), "--report", str(report))
    text = report.read_text(errors="replace")
    assert report.stat().st_size > 50_000
    assert "information_plane.png" in text


def test_provenance_command(tiny_run):
    work, *_ = tiny_run
    store = work / "results" / "tiny" / "activations" / "seeds-1" / "seed1.zarr"
    proc = subprocess.run([sys.executable, "-m", "infoplane.cli", "provenance", str(store)],
                          capture_output=True, text=True, check=True)
    assert "config_hash" in proc.stdout and "torch_version" in proc.stdout
    line = next(li for li in proc.stdout.splitlines() if li.startswith("seed "))
    assert line.split()[-1] == "1"


def test_train_cli_writes_a_store_per_seed_and_one_metrics_table(tmp_path, tiny_config):
    """`infoplane train --seeds 1 0` (the train rule's command): one store per seed in --outdir,
    each holding its seed, and one metrics CSV of both seeds sorted by (seed, epoch). A killed
    group's resume is tested in tests/test_training.py (bit-identical to an uninterrupted run)."""
    from infoplane.cli import main
    from infoplane.store import open_store

    tiny_config["training"]["epochs"] = 3
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_config))
    args = ["train", "--config", str(cfg_path), "--seeds", "1", "0", "--outdir", str(tmp_path / "acts"),
            "--metrics", str(tmp_path / "metrics.csv"), "--workdir", str(tmp_path / "work"), "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "acts").iterdir()) == ["seed0.zarr", "seed1.zarr"]
    assert [open_store(tmp_path / "acts" / f"seed{s}.zarr").attrs["seed"] for s in (0, 1)] == [0, 1]
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics.columns) == ["seed", "epoch", "train_loss", "train_acc", "eval_loss", "eval_acc"]
    assert list(zip(metrics["seed"], metrics["epoch"], strict=True)) == [(s, e) for s in (0, 1) for e in range(4)]
