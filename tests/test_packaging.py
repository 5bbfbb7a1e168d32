"""pyproject.toml and environment.yml list the same runtime dependencies, the rules' conda
environment gets infoplane itself, and the CLI entry point exists."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# conda names that differ from PyPI names
CONDA_TO_PYPI = {"pytorch": "torch", "dask": "dask[distributed]", "distributed": "dask[distributed]"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ ]", req, maxsplit=1)[0].strip().lower()


def _conda_deps() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    return {CONDA_TO_PYPI.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_name(d) for d in project["dependencies"]}
    test_tools = {_name(d) for d in project["optional-dependencies"]["test"]}
    conda_deps = _conda_deps() - {"python", "pip"}
    assert runtime == conda_deps, (
        f"only in pyproject: {runtime - conda_deps}; only in environment.yml: {conda_deps - runtime}"
    )
    assert not conda_deps & test_tools, f"test tools belong to pyproject's [test] extra: {conda_deps & test_tools}"


def test_rules_environment_installs_infoplane():
    """Every rule with a `conda:` names environment.yml; with `--sdm conda` Snakemake runs
    environment.post-deploy.sh in it, which installs this checkout (the Snakefile says where)."""
    rules = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    named = set()
    for path in rules:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "conda:":
                named.add((path.parent / lines[i + 1].strip().strip('"')).resolve())
    assert named == {(REPO / "environment.yml").resolve()}
    assert "pip" in _conda_deps()
    snakefile = (REPO / "workflow" / "Snakefile").read_text()
    assert 'os.environ.setdefault("INFOPLANE_SOURCE", os.path.dirname(workflow.basedir))' in snakefile


def test_post_deploy_script_installs_the_checkout(tmp_path):
    """The script, run with a stand-in `python` that records its arguments."""
    import os

    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args.txt'}\n")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}", "INFOPLANE_SOURCE": str(REPO)}
    script = str(REPO / "environment.post-deploy.sh")
    subprocess.run(["bash", script], env=env, check=True, capture_output=True)
    assert (tmp_path / "args.txt").read_text().split() == ["-m", "pip", "install", "--no-deps", "-e", str(REPO)]
    env.pop("INFOPLANE_SOURCE")
    proc = subprocess.run(["bash", script], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "INFOPLANE_SOURCE" in proc.stderr


def test_cli_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "infoplane.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "estimate", "collect", "figures", "provenance", "check-config"):
        assert command in proc.stdout


def test_check_config_command_reports_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: x\nseeds: [0]\ndataset: {name: tishby_12bit}\nmodel: {activation: tahn}\n"
                   "training: {epochs: 3}\nestimators: [{name: binning}]\n")
    cmd = [sys.executable, "-m", "infoplane.cli", "check-config", str(bad)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "model.activation: 'tahn' is not allowed (did you mean \"tanh\"?)" in lines[0]
