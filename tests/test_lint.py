"""CI's lint step: `ruff check` and `mypy` (the package ships py.typed, so its types are a promise)
are clean. Both read their settings from pyproject.toml; they run from this interpreter's
environment (the README's test command installs them with the `[test]` extra)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run_tool(module: str, *args: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]' installs it)")
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"`{module} {' '.join(args)}` found problems:\n{proc.stdout}{proc.stderr}"


def test_ruff_is_clean():
    _run_tool("ruff", "check", "src", "tests", "benchmarks")


def test_mypy_is_clean():
    _run_tool("mypy", "src/infoplane")
