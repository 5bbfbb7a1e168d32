"""The Snakemake workflow: lint, dry runs of every shipped study, bad configs, and a real run of a
tiny network study through the whole DAG (train -> store -> estimate -> table -> figures -> report).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

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


def jobs_planned(dry_run_output: str) -> dict[str, int]:
    """Parse the job-count table of `snakemake -n` into {rule: count}."""
    counts: dict[str, int] = {}
    lines = dry_run_output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Job stats:"):
            for row in lines[i + 3:]:
                parts = row.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    break
                if parts[0] not in ("total", "all"):
                    counts[parts[0]] = int(parts[1])
            break
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


def test_dry_run_default_study():
    proc = snakemake("-n", "--cores", "2")
    counts = jobs_planned(proc.stdout)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if counts:  # nothing planned when the default study has already been run here
        assert counts.get("train", 0) <= len(cfg["seeds"])


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.stem)
def test_dry_run_every_study(study, tmp_path):
    proc = snakemake("-n", "--cores", "2", "--configfile", str(study), "--directory", str(tmp_path))
    counts = jobs_planned(proc.stdout)
    cfg = yaml.safe_load(study.read_text())
    assert counts, proc.stdout
    if "model" in cfg:
        assert counts["train"] == len(cfg["seeds"])
        assert counts["estimate"] == len(cfg["seeds"])
        assert counts["figures"] == 1
    if "validation" in cfg:
        assert counts["validation_grid"] == 1
    if "synthetic" in cfg:
        assert counts["synthetic_grid"] == 1


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
    """Run a tiny 12-bit study through the whole DAG once; share the result directory."""
    from conftest import TINY_NETWORK_CONFIG

    work = tmp_path_factory.mktemp("tiny_study")
    cfg = dict(TINY_NETWORK_CONFIG)
    cfg_path = work / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = snakemake("--cores", "2", "--configfile", str(cfg_path), "--directory", str(work))
    return work, cfg_path, cfg, proc


def test_tiny_study_produces_table_and_figures(tiny_run):
    work, _, cfg, _ = tiny_run
    res = work / "results" / "tiny"
    mi = pd.read_csv(res / "mi.csv", dtype={"layer": str})
    assert list(mi.columns[:6]) == ["seed", "layer", "layer_index", "epoch", "estimator", "I_XT"]
    assert set(mi["seed"]) == set(cfg["seeds"])
    assert set(mi["layer"]) == {"1", "2", "softmax"}
    assert (mi["status"] == "ok").all()
    # I(X;T) <= H(X) = 12 bits; I(T;Y) <= H(Y) = 0.9992 bits for the 12-bit labels.
    assert mi["I_XT"].between(0, 12 + 1e-9).all()
    assert mi["I_TY"].between(0, 0.9992 + 1e-4).all()
    first = mi[(mi["layer"] == "1") & (mi["epoch"] == 0)]
    assert (first["I_XT"] > 8).all(), "the first hidden layer of a fresh tanh net keeps most of the 12 bits"
    metrics = pd.read_csv(res / "metrics.csv")
    assert set(metrics["epoch"]) == set(range(cfg["training"]["epochs"] + 1))
    for fig in ("information_plane", "mi_vs_epoch", "training_curves", "dynamics"):
        for ext in ("png", "pdf"):
            path = res / "figures" / f"{fig}.{ext}"
            assert path.stat().st_size > 5000, path
    import matplotlib.image

    img = matplotlib.image.imread(res / "figures" / "information_plane.png")
    assert img.ndim == 3 and float(np.std(img)) > 0.01


def test_tiny_store_schema(tiny_run):
    import xarray as xr

    work, _, cfg, _ = tiny_run
    store = work / "results" / "tiny" / "activations" / "seed0.zarr"
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
        assert set(ds["I_XT"].dims) == {"estimator", "seed", "layer", "epoch"}
        assert ds["I_XT"].attrs["units"] == "bits"
        row = mi.iloc[len(mi) // 2]
        val = ds["I_XT"].sel(estimator=row["estimator"], seed=row["seed"], layer=row["layer"], epoch=row["epoch"])
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


def test_report_is_generated(tiny_run):
    work, cfg_path, _, _ = tiny_run
    report = work / "report.html"
    snakemake("--configfile", str(cfg_path), "--directory", str(work), "--report", str(report))
    text = report.read_text(errors="replace")
    assert report.stat().st_size > 50_000
    assert "information_plane.png" in text


def test_provenance_command(tiny_run):
    work, *_ = tiny_run
    store = work / "results" / "tiny" / "activations" / "seed1.zarr"
    proc = subprocess.run([sys.executable, "-m", "infoplane.cli", "provenance", str(store)],
                          capture_output=True, text=True, check=True)
    assert "config_hash" in proc.stdout and "torch_version" in proc.stdout
    line = next(li for li in proc.stdout.splitlines() if li.startswith("seed "))
    assert line.split()[-1] == "1"
