"""A real one-node SLURM cluster on loopback (Debian's slurm-wlm: slurmctld, slurmd, munge), started in a
folder of its own as the tests start a real `mlflow server`: its own munge key and socket, its own ports,
state and logs, so nothing of the machine's configuration is read or changed. `.ci/run` installs the
packages; elsewhere the tests that need a cluster say why it could not start."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.net import unused_port

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol")


def missing() -> str | None:
    """Why no cluster can start here, or None."""
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if absent:
        return f"slurm-wlm and munge are not installed ({', '.join(absent)} not found; .ci/run installs them)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs"
    return None


def _config(folder: Path, host: str) -> str:
    cpus = os.cpu_count() or 1
    return "\n".join([
        "ClusterName=rcnnse-test", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
        f"SlurmctldPort={unused_port()}", f"SlurmdPort={unused_port()}",
        "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={folder / 'munge.socket'}",
        f"StateSaveLocation={folder / 'state'}", f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}", f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}", f"SlurmdLogFile={folder / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none", "ReturnToService=2",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "JobCompType=jobcomp/none", "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none", "KillWait=5", "MinJobAge=300",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 State=UNKNOWN",
        f"PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4",
    ]) + "\n"  # fmt: skip


def _log_tails(folder: Path) -> str:
    parts = []
    for name in ("munged.log", "slurmctld.log", "slurmd.log"):
        path = folder / name
        if path.is_file():
            parts.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(parts)


@contextmanager
def slurm_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """munged, slurmctld and slurmd started in `folder`, the node idle; yields the environment a client
    (sbatch, scontrol, submitit) needs: SLURM_CONF. Every daemon is stopped (and gone) afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # munged refuses a key or socket in a folder others may write to
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder, host))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    munge = ["munged", "--force", f"--key-file={key}", f"--socket={folder / 'munge.socket'}",
             f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
             f"--seed-file={folder / 'munged.seed'}"]  # fmt: skip
    started: list[Path] = []
    try:
        subprocess.run(munge, check=True, capture_output=True, timeout=30)
        started.append(folder / "munged.pid")
        subprocess.run(
            ["slurmctld", "-i", "-f", str(conf)], env=env, check=True, capture_output=True, timeout=60
        )
        started.append(folder / "slurmctld.pid")
        subprocess.run(["slurmd", "-f", str(conf)], env=env, check=True, capture_output=True, timeout=60)
        started.append(folder / "slurmd.pid")
        deadline = time.monotonic() + 60
        while True:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the SLURM node never became idle ({state.stdout.strip()})")
            time.sleep(0.5)
    except (subprocess.CalledProcessError, RuntimeError) as error:
        _stop(started)
        detail = getattr(error, "stderr", b"") or b""
        raise RuntimeError(f"SLURM cluster did not start: {error} {detail!r}\n{_log_tails(folder)}") from None
    try:
        yield {"SLURM_CONF": str(conf)}  # a test's own failure passes through as it is
    finally:
        _stop(started)


def _stop(pid_files: list[Path]) -> None:
    """SIGTERM to each daemon, the last started first, and wait until it is gone (munged writes its seed file
    as it exits: its folder may be removed only after)."""
    for pid_file in reversed(pid_files):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 15)
        except (OSError, ValueError):
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.05)
