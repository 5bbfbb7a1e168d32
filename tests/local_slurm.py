"""A real one-node SLURM cluster on localhost, for the cluster tests (and for trying the README's
cluster commands by hand).

Everything lives in one directory: its own munge key and socket, slurm.conf, state, spool and
logs, and free TCP ports on 127.0.0.1, so it neither needs nor touches /etc/slurm, /etc/munge or
a system munged. Needs root (SlurmUser=root) and Debian's ``slurm-wlm`` and ``munge`` packages.
Clients find the cluster through ``SLURM_CONF`` (see :meth:`LocalSlurm.env`).

By hand::

    python tests/local_slurm.py /tmp/slurm      # starts it, prints the `export ...` line; Ctrl-C stops it
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "srun", "scancel")


def why_unavailable() -> str | None:
    """The reason a local SLURM cluster cannot start here, or None when it can."""
    missing = [d for d in DAEMONS if not _installed(d)]
    if missing:
        return (f"SLURM/munge not installed ({', '.join(missing)} missing): "
                "`apt-get install -y slurm-wlm munge` (as root) enables this test")
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (SlurmUser=root); run as root to enable this test"
    return None


def _installed(name: str) -> bool:
    return shutil.which(name) is not None or Path(f"/usr/sbin/{name}").exists()


def _exe(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_memory_mb() -> int:
    """Physical memory of this machine in MB (what ``slurmd -C`` reports as RealMemory)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("/proc/meminfo has no MemTotal line")


def slurm_conf(root: Path, cpus: int, memory_mb: int, ctld_port: int, slurmd_port: int) -> str:
    """slurm.conf of a one-node cluster (node and partition ``debug`` on localhost)."""
    return f"""\
ClusterName=infoplane
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MinJobAge=300
KillWait=5
InactiveLimit=0
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class LocalSlurm:
    """Start munged, slurmctld and slurmd under ``root``; :meth:`stop` ends exactly those processes.

    Parameters
    ----------
    root : Path
        Directory for every file of the cluster (short path: the munge socket path must fit in
        108 bytes).
    cpus, memory_mb : int, optional
        What the node offers (default: this machine's CPUs and memory).
    """

    def __init__(self, root: Path, cpus: int | None = None, memory_mb: int | None = None) -> None:
        self.root = Path(root).resolve()
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb or node_memory_mb()
        self.conf = self.root / "slurm.conf"
        self.procs: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        """Environment for SLURM clients (sinfo, sbatch, snakemake) pointed at this cluster."""
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def _srun_shim(self) -> None:
        # snakemake-executor-plugin-slurm-jobstep (0.6.1) drops every SLURM_* variable but the
        # job's identity, SLURM_CONF included, before it calls srun inside the batch job. A real
        # cluster keeps its config in /etc/slurm, where srun finds it anyway; this cluster's
        # config lives in `root`, so an srun first on PATH puts SLURM_CONF back.
        shim = self.root / "bin" / "srun"
        shim.parent.mkdir(parents=True, exist_ok=True)
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {_exe("srun")} "$@"\n')
        shim.chmod(0o755)

    def _spawn(self, name: str, *args: str) -> None:
        with open(self.root / "log" / f"{name}.out", "wb") as log:
            self.procs.append(subprocess.Popen([_exe(name), *args], stdout=log, stderr=subprocess.STDOUT,
                                               env=self.env(), start_new_session=True))

    def start(self, timeout: float = 60.0) -> LocalSlurm:
        """Write the config, start the daemons and wait until ``sinfo`` shows the node idle."""
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            subprocess.run([_exe("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        self.conf.write_text(slurm_conf(self.root, self.cpus, self.memory_mb, free_port(), free_port()))
        self._srun_shim()
        try:
            self._spawn("munged", "--foreground", "--force", f"--socket={self.root}/munge/munge.socket",
                        f"--key-file={key}", f"--pid-file={self.root}/munge/munged.pid",
                        f"--seed-file={self.root}/munge/munged.seed", f"--log-file={self.root}/log/munged.log")
            self._wait_for(lambda: (self.root / "munge" / "munge.socket").exists(), 10, "munged's socket")
            self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
            self._spawn("slurmd", "-D", "-N", "localhost", "-f", str(self.conf))
            self._wait_for(self._node_idle, timeout, "the node to become idle in sinfo")
        except BaseException:
            self.stop()
            raise
        return self

    def _node_idle(self) -> bool:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                              env=self.env(), timeout=10, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "idle"

    def _wait_for(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{Path(dead[0].args[0]).name} exited ({dead[0].returncode}) while waiting "
                                   f"for {what}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}:\n{self.logs()}")

    def logs(self, tail: int = 30) -> str:
        """The last lines of every daemon log (for failure messages)."""
        out = []
        for path in sorted((self.root / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def stop(self, timeout: float = 15.0) -> None:
        """Cancel queued jobs and end the daemons this object started (SIGTERM, then SIGKILL)."""
        if any(p.poll() is None for p in self.procs[1:]):
            subprocess.run(["scancel", "--full", "-u", "root"], env=self.env(), capture_output=True, timeout=10,
                           check=False)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()


if __name__ == "__main__":
    reason = why_unavailable()
    if reason:
        sys.exit(reason)
    cluster = LocalSlurm(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/infoplane-slurm")).start()
    # Ctrl-C and `kill` stop it cleanly, also when started in the background (where SIGINT is ignored).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    print(f"export SLURM_CONF={cluster.conf} PATH={cluster.root / 'bin'}:$PATH", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
