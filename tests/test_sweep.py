"""Sweeps (config key `sweep`): condition names, expanded configs, bad sweeps, and a tiny sweep
run through the whole DAG (tables with condition columns, the grid figure, what a change reruns).
"""

from __future__ import annotations

import copy
from collections import Counter

import pandas as pd
import pytest
import yaml
from test_workflow import planned_jobs, snakemake

from infoplane.config import (
    ConfigError,
    condition_configs,
    condition_name,
    stage_hash,
    sweep_conditions,
    validate_config,
)
from infoplane.tables import GEOMETRY_COLUMNS, MI_COLUMNS, SGD_COLUMNS

SWEEP = {"model.activation": ["tanh", "relu"]}


def sweep_config(tiny_config: dict, sweep: dict) -> dict:
    cfg = copy.deepcopy(tiny_config)
    cfg["study"] = "tinysweep"
    cfg["sweep"] = copy.deepcopy(sweep)
    return cfg


def test_condition_names_come_from_values_not_positions(tiny_config):
    cfg = sweep_config(tiny_config, {"training.lr": [0.01, 0.001], "model.activation": ["tanh", "relu"]})
    names = list(sweep_conditions(validate_config(cfg)))
    assert names == ["activation-tanh_lr-0.01", "activation-tanh_lr-0.001",
                     "activation-relu_lr-0.01", "activation-relu_lr-0.001"]
    cfg["sweep"]["model.activation"].insert(0, "sigmoid")
    more = list(sweep_conditions(validate_config(cfg)))
    assert set(names) < set(more) and len(more) == 6
    grid = {"model.widths": [10, 7, 5], "estimators": [{"name": "binning", "label": "b30"}, {"name": "kde"}]}
    assert condition_name(grid) == "widths-10x7x5_estimators-b30+kde"


def test_each_condition_is_the_base_config_with_its_overrides(tiny_config):
    sweep = {"model.activation": ["tanh", "relu"], "training.batch_size": [64, 256],
             "estimators": [[{"name": "binning", "bins": 30, "range": [-1, 1]}], [{"name": "kde"}]]}
    conds = condition_configs(validate_config(sweep_config(tiny_config, sweep)))
    assert len(conds) == 8
    for name, got in conds.items():
        expected = sweep_config(tiny_config, {})
        del expected["sweep"]
        overrides = sweep_conditions({"sweep": sweep})[name]
        expected["model"]["activation"] = overrides["model.activation"]
        expected["training"]["batch_size"] = overrides["training.batch_size"]
        expected["estimators"] = overrides["estimators"]
        assert got == validate_config(expected), name
        assert "sweep" not in got
    tanh = conds["activation-tanh_batch_size-64_estimators-binning"]
    assert tanh["model"]["activation"] == "tanh" and tanh["training"]["batch_size"] == 64
    # Conditions that differ only in estimators train the same networks (same train-stage hash).
    other = conds["activation-tanh_batch_size-64_estimators-kde"]
    assert stage_hash(tanh, "train") == stage_hash(other, "train")
    assert stage_hash(tanh, "estimate") != stage_hash(other, "estimate")


@pytest.mark.parametrize(
    "sweep, message",
    [
        ({"model.activation": ["tanh", "tanhh"]},
         "bad.yaml: sweep.model.activation: value 'tanhh': model.activation: 'tanhh' is not allowed"),
        ({"training.lr": [0.01, -1]}, "bad.yaml: sweep.training.lr: value -1: training.lr: -1 is out of range"),
        ({"training.epochs": [3]}, "bad.yaml: sweep: unknown key 'training.epochs'"),
        ({"model.widths": []}, "bad.yaml: sweep.model.widths: [] should be non-empty"),
        ({"estimators": [[{"name": "binning", "bins": 0}]]}, "bad.yaml: sweep.estimators: value"),
        ({"training.lr": [0.01, 0.010]}, "bad.yaml: sweep.training.lr: values 0.01 and 0.01 both give"),
    ],
    ids=["enum", "range", "key", "empty", "estimator", "duplicate"],
)
def test_bad_sweep_is_one_line_naming_key_and_value(tiny_config, sweep, message):
    with pytest.raises(ConfigError) as err:
        validate_config(sweep_config(tiny_config, sweep), source="bad.yaml")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_bad_sweep_stops_the_workflow_before_any_job(tmp_path, tiny_config):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(sweep_config(tiny_config, {"model.activation": ["relu", "tanhh"]})))
    proc = snakemake("-n", "--cores", "1", "--configfile", str(path), "--directory", str(tmp_path), check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "invalid config" in line]
    assert len(lines) == 1, proc.stderr
    assert "sweep.model.activation: value 'tanhh'" in lines[0] and str(path) in lines[0]


def test_dry_run_plans_the_summary_and_comparison_figures(tmp_path, tiny_config):
    """The sweep's collect writes summary.csv, its figure job draws the comparison figures; each
    condition's figures job draws clustering only with analysis.clustering (reading the
    condition's geometry.csv), and never the sweep-level comparisons."""
    cfg = sweep_config(tiny_config, SWEEP)
    conds = ("activation-tanh", "activation-relu")

    def jobs(config: dict) -> dict[str, list[list[str]]]:
        path = tmp_path / "sweep.yaml"
        path.write_text(yaml.safe_dump(config))
        out = snakemake("-n", "--cores", "1", "--configfile", str(path), "--directory", str(tmp_path)).stdout
        plan: dict[str, list[list[str]]] = {}
        for rule, outs in planned_jobs(out):
            plan.setdefault(rule, []).append(outs)
        return plan

    def figures(outs: list[str]) -> set[str]:
        return {o.rsplit("/", 1)[1] for o in outs}

    plan = jobs(cfg)
    assert "results/tinysweep/summary.csv" in plan["collect_sweep"][0]
    assert sorted(o for outs in plan["collect"] for o in outs if o.endswith("summary.csv")) == sorted(
        f"results/tinysweep/{c}/summary.csv" for c in conds)
    sweep_figs = {"sweep_information_plane", "compression_grid", "late_drop"}
    assert figures(plan["sweep_figure"][0]) == {f"{f}.{e}" for f in sweep_figs for e in ("png", "pdf")}
    for outs in plan["figures"]:
        assert {o.split(".")[0] for o in figures(outs)} == {"information_plane", "mi_vs_epoch", "training_curves",
                                                            "dynamics", "sgd_phases"}

    cfg["analysis"] = {"clustering": True}
    for c in conds:  # the geometry tables (written by the geometry stage) are there
        (tmp_path / "results" / "tinysweep" / c).mkdir(parents=True)
        (tmp_path / "results" / "tinysweep" / c / "geometry.csv").write_text("")
    plan = jobs(cfg)
    for outs in plan["figures"]:
        assert {"clustering.png", "clustering.pdf"} <= figures(outs)
    assert not any("clustering" in o for o in plan["sweep_figure"][0])


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    """Run a tiny two-condition sweep (tanh, relu) through the whole DAG once."""
    from conftest import TINY_NETWORK_CONFIG

    work = tmp_path_factory.mktemp("tiny_sweep")
    cfg = sweep_config(TINY_NETWORK_CONFIG, SWEEP)
    path = work / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    snakemake("--cores", "2", "--configfile", str(path), "--directory", str(work))
    return work, cfg


def plan(sweep_run, name: str, sweep: dict) -> list[tuple[str, list[str]]]:
    work, cfg = sweep_run
    edited = copy.deepcopy(cfg)
    edited["sweep"] = sweep
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(edited))
    return planned_jobs(snakemake("-n", "--cores", "2", "--configfile", str(path), "--directory", str(work)).stdout)


def test_sweep_tables_carry_the_condition(sweep_run):
    import xarray as xr

    work, cfg = sweep_run
    res = work / "results" / "tinysweep"
    mi = pd.read_csv(res / "mi.csv", dtype={"layer": str})
    assert list(mi.columns) == ["condition", "model.activation", *MI_COLUMNS]
    assert list(dict.fromkeys(mi["condition"])) == ["activation-tanh", "activation-relu"]
    for cond, act in (("activation-tanh", "tanh"), ("activation-relu", "relu")):
        own = pd.read_csv(res / cond / "mi.csv", dtype={"layer": str})
        assert list(own.columns) == list(MI_COLUMNS), "a condition's own table keeps the MI_COLUMNS contract"
        rows = mi[mi["condition"] == cond]
        assert (rows["model.activation"] == act).all()
        pd.testing.assert_frame_equal(rows[list(MI_COLUMNS)].reset_index(drop=True), own)
    assert set(mi["seed"]) == set(cfg["seeds"]) and (mi["status"] == "ok").all()
    # The conditions trained different networks: their I(X;T) differ somewhere.
    tanh = mi[mi["condition"] == "activation-tanh"]["I_XT"].to_numpy()
    relu = mi[mi["condition"] == "activation-relu"]["I_XT"].to_numpy()
    assert len(tanh) == len(relu) and abs(tanh - relu).max() > 0.1
    metrics = pd.read_csv(res / "metrics.csv")
    assert list(metrics.columns[:2]) == ["condition", "model.activation"]
    sgd = pd.read_csv(res / "sgd.csv", dtype={"layer": str})
    assert list(sgd.columns) == ["condition", "model.activation", *SGD_COLUMNS]
    assert list(dict.fromkeys(sgd["condition"])) == ["activation-tanh", "activation-relu"]
    assert len(metrics) == 2 * len(cfg["seeds"]) * (cfg["training"]["epochs"] + 1)
    with xr.open_dataset(res / "mi.nc") as ds:
        assert set(ds["I_XT"].dims) == {"condition", "estimator", "seed", "layer", "epoch", "split"}
        assert list(ds["model.activation"].values) == ["tanh", "relu"]
        row = mi.iloc[-1]
        val = ds["I_XT"].sel(condition=row["condition"], estimator=row["estimator"], seed=row["seed"],
                             layer=row["layer"], epoch=row["epoch"], split=row["split"])
        assert float(val) == pytest.approx(row["I_XT"])


def test_sweep_geometry_stacks_the_conditions(sweep_run):
    work, _ = sweep_run
    res = work / "results" / "tinysweep"
    geo = pd.read_csv(res / "geometry.csv", dtype={"layer": str})
    assert list(geo.columns) == ["condition", "model.activation", *GEOMETRY_COLUMNS]
    for cond, act in (("activation-tanh", "tanh"), ("activation-relu", "relu")):
        own = pd.read_csv(res / cond / "geometry.csv", dtype={"layer": str})
        rows = geo[geo["condition"] == cond]
        assert (rows["model.activation"] == act).all()
        pd.testing.assert_frame_equal(rows[list(GEOMETRY_COLUMNS)].reset_index(drop=True), own)
    relu_hidden = geo[(geo["condition"] == "activation-relu") & (geo["layer"] != "softmax")]
    assert (relu_hidden["act_min"] >= 0).all(), "ReLU activations are never negative"


def test_sweep_figures(sweep_run):
    import matplotlib.image
    import numpy as np

    work, _ = sweep_run
    res = work / "results" / "tinysweep"
    for ext in ("png", "pdf"):
        for name in ("sweep_information_plane", "compression_grid", "late_drop"):
            assert (res / "figures" / f"{name}.{ext}").stat().st_size > 5000
        for cond in ("activation-tanh", "activation-relu"):
            assert (res / cond / "figures" / f"information_plane.{ext}").stat().st_size > 5000
    img = matplotlib.image.imread(res / "figures" / "sweep_information_plane.png")
    assert img.shape[1] > img.shape[0], "two conditions side by side"
    assert float(np.std(img)) > 0.01


def test_sweep_summary_is_the_summary_of_the_stacked_table(sweep_run):
    from infoplane.summary import mi_summary
    from infoplane.tables import MI_SUMMARY_COLUMNS

    work, cfg = sweep_run
    res = work / "results" / "tinysweep"
    summary = pd.read_csv(res / "summary.csv", dtype={"layer": str})
    assert list(summary.columns) == ["condition", "model.activation", *MI_SUMMARY_COLUMNS]
    mi = pd.read_csv(res / "mi.csv", dtype={"layer": str})
    pd.testing.assert_frame_equal(summary, mi_summary(mi), check_dtype=False)
    assert (summary["n_seeds"] == len(cfg["seeds"])).all() and (summary["n_rows_excluded"] == 0).all()
    assert len(summary) == 2 * 3  # conditions x layers (1, 2, softmax), one estimator
    for cond in ("activation-tanh", "activation-relu"):
        own = pd.read_csv(res / cond / "summary.csv", dtype={"layer": str})
        assert list(own.columns) == list(MI_SUMMARY_COLUMNS)
        rows = summary[summary["condition"] == cond][list(MI_SUMMARY_COLUMNS)].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, own, check_dtype=False)


def test_sweep_figure_has_one_panel_per_condition_and_estimator(sweep_run):
    from infoplane.plots import sweep_information_plane_figure

    work, _ = sweep_run
    fig = sweep_information_plane_figure(work / "results" / "tinysweep" / "mi.csv")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == ["activation-relu\nbinning", "activation-tanh\nbinning"]
    for ax in panels:  # one line per layer, drawn from the seed means
        assert len([ln for ln in ax.lines if str(ln.get_gid()).startswith("line:")]) == 3


def test_sweep_rerun_does_nothing(sweep_run):
    assert plan(sweep_run, "same", SWEEP) == []


def test_added_value_trains_only_the_new_condition(sweep_run):
    jobs = plan(sweep_run, "added", {"model.activation": ["tanh", "relu", "sigmoid"]})
    counts = Counter(rule for rule, _ in jobs)
    assert counts["train"] == counts["estimate"] == 2 and counts["collect"] == counts["figures"] == 1, jobs
    assert counts["collect_sweep"] == counts["sweep_figure"] == 1
    trained = sorted(out for rule, outs in jobs if rule == "train" for out in outs)
    assert all(out.startswith("results/tinysweep/activation-sigmoid/") for out in trained), trained


def test_removed_value_trains_nothing(sweep_run):
    jobs = plan(sweep_run, "removed", {"model.activation": ["relu"]})
    assert Counter(rule for rule, _ in jobs) == {"stage_config": 1, "collect_sweep": 1, "sweep_figure": 1}, jobs
    assert dict(jobs)["stage_config"][0].startswith("results/tinysweep/.config/sweep-")


def test_estimator_only_conditions_share_the_train_stage_config(sweep_run):
    """Paths are per condition (results/<study>/<condition>/...): conditions that differ only in
    estimators each train their networks, from one shared train-stage config (here the one the
    tanh condition already wrote: the base config is tanh)."""
    estimators = [[{"name": "binning", "bins": 30, "range": [-1, 1]}],
                  [{"name": "binning", "bins": 12, "range": [-1, 1], "label": "bins12"}]]
    jobs = plan(sweep_run, "estimators", {"estimators": estimators})
    trained = sorted(out for rule, outs in jobs if rule == "train" for out in outs if "/activations/" in out)
    assert trained == [f"results/tinysweep/estimators-{e}/activations/seeds-{s}"
                       for e in ("binning", "bins12") for s in (0, 1)]
    configs = [out for rule, outs in jobs if rule == "stage_config" for out in outs]
    assert not [c for c in configs if "/train-" in c], "the tanh condition's train config serves both"
    # Only the new estimator (bins12) needs a new estimate config; bins 30 is the tanh condition's.
    assert len([c for c in configs if "/estimate-" in c]) == 1, configs
