"""A real single-node SLURM cluster for the cluster test, started by hand (no systemd here).

Debian's `slurmctld slurmd slurm-client munge` (.ci/run installs them). The test starts `munged`
(as user munge), `slurmctld` and `slurmd` in the foreground as its own children and stops them by
PID. slurm.conf goes to /etc/slurm/slurm.conf, the path compiled into SLURM's tools: the jobstep
plugin strips `SLURM_*` variables inside jobs, so a `SLURM_CONF` elsewhere would be lost there.
No accounting daemon: Snakemake's SLURM plugin then asks `squeue` for job states
(`--slurm-status-command squeue`). The node is this machine, addressed as 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CONF = Path("/etc/slurm/slurm.conf")
DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "dlrepro"


def memory_mb() -> int:
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    return total_kb // 1024 - 1024  # leave the system a GiB, as slurmd -C would round down


def config(host: str, cpus: int, memory: int, state: Path) -> str:
    return f"""# written by tests/slurm.py for the cluster test; removed when it ends
ClusterName=dlrepro-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def unavailable() -> str | None:
    """Why a cluster cannot start here, or None."""
    missing = [d for d in (*DAEMONS, "sbatch", "squeue", "scancel", "sinfo") if shutil.which(d) is None
               and not Path(f"/usr/sbin/{d}").exists()]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} missing; Debian: slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "starting slurmctld, slurmd and munged needs root (this machine's CI runs as root)"
    if CONF.exists() and "tests/slurm.py" not in CONF.read_text():
        return f"{CONF} belongs to a real cluster on this machine; the test does not replace it"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _wait(check, what: str, logs: list[Path], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p}\n{p.read_text()[-1500:]}" for p in logs if p.exists())
            raise RuntimeError(f"SLURM test cluster: {what} not ready after {seconds:.0f} s\n{tails}")
        time.sleep(0.5)


def _quiet(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


@contextmanager
def cluster(state: Path):
    """A running cluster of this machine as its one node; yields the partition's name."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    host = socket.gethostname().split(".")[0]
    state.mkdir(parents=True, exist_ok=True)
    for sub in ("ctld", "d"):
        (state / sub).mkdir(exist_ok=True)
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(config(host, os.cpu_count() or 1, memory_mb(), state))
    munge_run = Path("/run/munge")
    munge_run.mkdir(parents=True, exist_ok=True)
    shutil.chown(munge_run, "munge", "munge")
    logs = [state / "munged.log", state / "slurmctld.log", state / "slurmd.log"]
    started: list[subprocess.Popen] = []
    try:
        with open(state / "munged.log", "w") as out:
            started.append(subprocess.Popen(
                ["runuser", "-u", "munge", "--", _binary("munged"), "--foreground", "--force"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        _wait(lambda: _quiet("munge", "-n").returncode == 0, "munged", logs)
        for daemon in ("slurmctld", "slurmd"):
            started.append(subprocess.Popen([_binary(daemon), "-D"], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True))
        _wait(lambda: "idle" in _quiet("sinfo", "-h", "-o", "%T").stdout, "the node (sinfo: idle)", logs)
        yield PARTITION
    finally:
        for process in reversed(started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        CONF.unlink(missing_ok=True)
