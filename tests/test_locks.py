"""Stale Snakemake locks (left by a SIGKILLed run) are released; live ones are kept."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from infoplane.locks import _is_snakemake, other_snakemake_running, release_stale_locks

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")


def _locks(work: Path) -> list[Path]:
    d = work / ".snakemake" / "locks"
    d.mkdir(parents=True)
    files = [d / "0.input.lock", d / "0.output.lock"]
    for f in files:
        f.write_text("results/x/mi.csv\n")
    return files


def test_is_snakemake_recognises_the_ways_to_start_it():
    assert _is_snakemake(["/venv/bin/snakemake", "--cores", "2"])
    assert _is_snakemake(["/usr/bin/python3", "/venv/bin/snakemake", "--cores", "2"])
    assert _is_snakemake(["python", "-m", "snakemake", "--cores", "2"])
    assert not _is_snakemake(["infoplane", "train", "--config", ".snakemake/x.yaml"])
    assert not _is_snakemake(["/bin/bash", "-c", "snakemake --cores 2"])  # its child is the run
    assert not _is_snakemake([])


def test_stale_locks_are_released(tmp_path):
    files = _locks(tmp_path)
    assert other_snakemake_running(tmp_path) is False
    assert release_stale_locks(tmp_path) == files
    assert not any(f.exists() for f in files)
    assert release_stale_locks(tmp_path) == []  # nothing left: a no-op


def test_locks_of_a_live_run_are_kept(tmp_path):
    files = _locks(tmp_path)
    # a stand-in for a live run: a process started as `python <...>/snakemake` in that directory
    fake = tmp_path / "bin" / "snakemake"
    fake.parent.mkdir()
    fake.write_text("import time\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(fake)], cwd=tmp_path)
    try:
        time.sleep(0.2)
        assert other_snakemake_running(tmp_path) is True
        assert release_stale_locks(tmp_path) == []
        assert all(f.exists() for f in files)
        # a live run in another directory does not protect these locks
        other = tmp_path / "elsewhere"
        other.mkdir()
        assert other_snakemake_running(other) is False
    finally:
        proc.kill()
        proc.wait()
    assert release_stale_locks(tmp_path) == files
