"""pyproject.toml and environment.yml list the same dependencies; the CLI entry point exists."""

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


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_deps = {_name(d) for d in project["dependencies"]} | {_name(d) for d in project["optional-dependencies"]["test"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_deps = {CONDA_TO_PYPI.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}
    conda_deps.discard("python")
    assert pip_deps == conda_deps, f"only in pyproject: {pip_deps - conda_deps}; only in environment.yml: {conda_deps - pip_deps}"


def test_cli_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "infoplane.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "estimate", "collect", "figures", "provenance", "check-config"):
        assert command in proc.stdout


def test_check_config_command_reports_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: x\nseeds: [0]\ndataset: {name: tishby_12bit}\nmodel: {activation: tahn}\n"
                   "training: {epochs: 3}\nestimators: [{name: binning}]\n")
    proc = subprocess.run([sys.executable, "-m", "infoplane.cli", "check-config", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "model.activation: 'tahn' is not allowed (did you mean \"tanh\"?)" in lines[0]
