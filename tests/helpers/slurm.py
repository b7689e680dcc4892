"""A real one-node SLURM cluster on loopback (Debian's slurm-wlm: slurmctld, slurmd, munge, and slurmdbd over
a MariaDB server for its accounting), started in a folder of its own as the tests start a real `mlflow
server`: its own munge key and socket, its own ports, database, state and logs, so nothing of the machine's
configuration is read or changed. Accounting is not optional: submitit learns a job's state from `sacct`,
and without it a cancelled job is never seen to end. `.ci/run` installs the packages; elsewhere the tests
that need a cluster say why it could not start."""

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

DAEMONS = (
    "munged",
    "slurmctld",
    "slurmd",
    "slurmdbd",
    "sbatch",
    "sinfo",
    "scontrol",
    "scancel",
    "sacct",
    "sacctmgr",
    "mariadbd",
    "mariadb-install-db",
)
CLUSTER = "rcnnse-test"


def missing() -> str | None:
    """Why no cluster can start here, or None."""
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if absent:
        names = ", ".join(absent)
        return f"slurm-wlm, slurmdbd, munge or mariadb-server missing ({names}; .ci/run installs them)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs"
    return None


def _config(folder: Path, host: str, dbd_port: int) -> str:
    cpus = os.cpu_count() or 1
    return "\n".join([
        f"ClusterName={CLUSTER}", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
        f"SlurmctldPort={unused_port()}", f"SlurmdPort={unused_port()}",
        "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={folder / 'munge.socket'}",
        f"StateSaveLocation={folder / 'state'}", f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}", f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}", f"SlurmdLogFile={folder / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none", "ReturnToService=2",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "JobCompType=jobcomp/none", "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=localhost",
        f"AccountingStoragePort={dbd_port}", f"AccountingStoragePass={folder / 'munge.socket'}",
        "KillWait=5", "MinJobAge=300",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 State=UNKNOWN",
        f"PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4",
    ]) + "\n"  # fmt: skip


def _dbd_config(folder: Path, dbd_port: int, db_port: int) -> str:
    return "\n".join([
        "AuthType=auth/munge", f"AuthInfo=socket={folder / 'munge.socket'}", "DbdHost=localhost",
        "DbdAddr=127.0.0.1", f"DbdPort={dbd_port}", "SlurmUser=root", f"PidFile={folder / 'slurmdbd.pid'}",
        f"LogFile={folder / 'slurmdbd.log'}", "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1",
        f"StoragePort={db_port}", "StorageUser=root", "StorageLoc=slurm_acct_db",
    ]) + "\n"  # fmt: skip


def _start_database(folder: Path, port: int) -> None:
    """A MariaDB server of its own for slurmdbd (no grant tables: nothing but loopback reaches it)."""
    data = folder / "db"
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db",
         "--auth-root-authentication-method=normal"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={folder / 'mariadb.socket'}",
         f"--port={port}", "--bind-address=127.0.0.1", "--user=root", "--skip-grant-tables",
         f"--pid-file={folder / 'mariadb.pid'}", f"--log-error={folder / 'mariadb.log'}", "--skip-log-bin",
         "--innodb-buffer-pool-size=32M"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    _wait_for_port(port, "the MariaDB server")


def _wait_for_port(port: int, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} never listened on port {port}") from None
            time.sleep(0.2)


def _log_tails(folder: Path) -> str:
    parts = []
    for name in ("munged.log", "mariadb.log", "slurmdbd.log", "slurmctld.log", "slurmd.log"):
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
    dbd_port, db_port = unused_port(), unused_port()
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder, host, dbd_port))
    dbd_conf = folder / "slurmdbd.conf"  # slurmdbd reads it beside SLURM_CONF; it must be private
    dbd_conf.write_text(_dbd_config(folder, dbd_port, db_port))
    dbd_conf.chmod(0o600)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    munge = ["munged", "--force", f"--key-file={key}", f"--socket={folder / 'munge.socket'}",
             f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
             f"--seed-file={folder / 'munged.seed'}"]  # fmt: skip
    started: list[Path] = []
    try:
        subprocess.run(munge, check=True, capture_output=True, timeout=30)
        started.append(folder / "munged.pid")
        started.append(folder / "mariadb.pid")
        _start_database(folder, db_port)
        subprocess.run(["slurmdbd"], env=env, check=True, capture_output=True, timeout=60)
        started.append(folder / "slurmdbd.pid")
        _wait_for_port(dbd_port, "slurmdbd")
        register = ["sacctmgr", "-i", "add", "cluster", CLUSTER]
        subprocess.run(register, env=env, check=True, capture_output=True, timeout=60)
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
    """SIGTERM to every daemon, the last started first, then wait until each is gone (munged writes its seed
    file as it exits: its folder may be removed only after). mariadbd is this process's child: reaped."""
    pids = []
    for pid_file in reversed(pid_files):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 15)
            pids.append(pid)
        except (OSError, ValueError):
            continue
    deadline = time.monotonic() + 20
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:  # not ours: gone when it cannot be signalled
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
            time.sleep(0.05)
