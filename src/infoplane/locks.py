"""Release Snakemake directory locks left behind by a run that was killed.

Snakemake locks its working directory (``.snakemake/locks/``) for the length of a run and removes
the lock when it exits, but a SIGKILLed run (OOM killer, a lost login session, ``kill -9``)
cannot: the next run then stops with "Directory cannot be locked" until ``snakemake --unlock``.
The workflow calls :func:`release_stale_locks` while it is parsed by the main Snakemake process,
before Snakemake takes its own lock, so a plain rerun just works.

A lock is stale when no other live process on this machine is a Snakemake run in the same working
directory. That is decided from ``/proc`` (Linux); where ``/proc`` is missing nothing is released.
Limitation, stated: two Snakemake runs of one directory started on *different* machines of a
shared filesystem cannot see each other's processes; do not do that (Snakemake's own lock is
also the only guard there).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["other_snakemake_running", "release_stale_locks"]


def _argv(pid: str) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _is_snakemake(argv: list[str]) -> bool:
    """``snakemake ...``, ``python /path/to/snakemake ...`` or ``python -m snakemake ...``."""
    if not argv:
        return False
    if os.path.basename(argv[0]) == "snakemake":
        return True
    if len(argv) > 1 and os.path.basename(argv[1]) == "snakemake":
        return True
    return len(argv) > 2 and argv[1] == "-m" and argv[2] == "snakemake"


def _ancestors(pid: int) -> set[int]:
    seen = {pid}
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: ppid (after "pid (comm) state")
        seen.add(pid)
    return seen


def other_snakemake_running(workdir: str | os.PathLike) -> bool | None:
    """Whether another live Snakemake process (not this one, nor one of its ancestors) has
    ``workdir`` as its working directory. None when that cannot be told (no ``/proc``)."""
    proc = Path("/proc")
    if not (proc / "self" / "cmdline").exists():
        return None
    target = os.path.realpath(workdir)
    mine = _ancestors(os.getpid())
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        if not _is_snakemake(_argv(entry.name)):
            continue
        try:
            cwd = os.path.realpath(os.readlink(entry / "cwd"))
        except OSError:
            return True  # a Snakemake process we may not inspect: assume it is ours to respect
        if cwd == target:
            return True
    return False


def release_stale_locks(workdir: str | os.PathLike = ".") -> list[Path]:
    """Remove ``<workdir>/.snakemake/locks/*`` when no other Snakemake run uses ``workdir``.

    Returns
    -------
    list of Path
        The lock files removed (empty when there were none, or another run is alive, or
        liveness cannot be told).
    """
    locks = Path(workdir) / ".snakemake" / "locks"
    files = sorted(p for p in locks.glob("*.lock") if p.is_file()) if locks.is_dir() else []
    if not files or other_snakemake_running(workdir) is not False:
        return []
    removed = []
    for f in files:
        try:
            f.unlink()
            removed.append(f)
        except FileNotFoundError:
            pass
    return removed
