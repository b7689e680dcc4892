"""Run statuses that tell the truth, even when a process dies without a word.

A run records the process that owns it (`rcnn_se.owner` = host:pid:start-time), so that a RUNNING run
whose process is gone (SIGKILL, a power cut, an out-of-memory kill) can be told apart from one that is
still training: `rcnn-se runs clean` lists those with the FAILED runs. A sweep's parent run is closed
FAILED at exit if the sweep ended before its own end hook could close it (Hydra rejecting an override,
a launcher crash), KILLED if an interruption ended it. A SIGTERM is turned into the same graceful
interruption as Ctrl-C (KILLED), and the signal that came is remembered for the job's last line and exit
status (rcnn_se.errors.Interrupted).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rcnn_se.errors import Interrupted

OWNER_TAG = "rcnn_se.owner"
_received: list[int] = []  # the interrupting signals caught so far (Lightning swallows the exception itself)


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def owner_alive(tag: str | None) -> bool | None:
    """True/False for an owner on this host; None when it cannot be told (another host, no tag)."""
    try:
        host, pid, ticks = (tag or "").rsplit(":", 2)
        pid_number = int(pid)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's live process
    return ticks == "?" or _start_ticks(pid_number) == ticks


def mark_owner(client, run_id: str) -> None:
    client.set_tag(run_id, OWNER_TAG, owner())


def close_at_exit(client, run_id: str) -> None:
    """At interpreter exit, end the run if it is still RUNNING: KILLED after Ctrl-C, FAILED otherwise."""

    def close() -> None:
        try:
            if client.get_run(run_id).info.status != "RUNNING":
                return
            interrupted = bool(_received) or isinstance(getattr(sys, "last_value", None), KeyboardInterrupt)
            client.set_terminated(run_id, status="KILLED" if interrupted else "FAILED")
        except Exception as exc:  # the store may be gone at exit; say so rather than hide it
            print(f"rcnn_se: could not close MLflow run {run_id} at exit ({exc})", file=sys.stderr)

    atexit.register(close)


def submitit_bypass(handler: object) -> bool:
    """Whether `handler` is the SIGTERM bypass of submitit, which runs this job under SLURM."""
    owner = getattr(handler, "__self__", None)
    return getattr(handler, "__name__", "") == "bypass" and type(owner).__module__.startswith("submitit.")


@contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt, so a plain `kill` ends the run KILLED after the
    same clean-up as Ctrl-C; both signals are remembered (`interruption`). A handler someone else installed
    stays in charge, and so does an ignored SIGINT; but for submitit's under SLURM: it ignores every SIGTERM
    because SLURM sends one when submitit requeues a job that its time-out signal (USR2) warned of, yet a
    SIGTERM with no such warning before it is `scancel` (or a preemption without notice), which ends the run
    KILLED like any interruption. After the warning, SIGTERM goes to submitit's handler as before."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    ours = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
    taken = {signum: before for signum, before in ours.items() if signal.getsignal(signum) is before}
    warned: list[int] = []
    if submitit_bypass(signal.getsignal(signal.SIGTERM)):
        from submitit.core.job_environment import JobEnvironment

        taken[signal.SIGTERM] = signal.getsignal(signal.SIGTERM)
        warning = JobEnvironment._usr_sig()
        requeue = signal.getsignal(warning)

        def warned_first(signum: int, frame) -> None:
            warned.append(signum)
            requeue(signum, frame)

        taken[warning] = requeue
        signal.signal(warning, warned_first)

    def interrupt(signum: int, frame) -> None:
        if signum == signal.SIGTERM and warned:  # submitit is requeueing: SLURM's SIGTERM is its to ignore
            taken[signal.SIGTERM](signum, frame)
            return
        _received.append(signum)
        raise Interrupted(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        if signum in taken:
            signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, before in taken.items():
            signal.signal(signum, before)


def interruption(exc: KeyboardInterrupt, what: str) -> Interrupted:
    """What to raise once a job interrupted by `exc` has closed its run: the signal that came (Lightning
    answers it with a bare SystemExit, so it is the one remembered), and `what` the job did about it."""
    signum = getattr(exc, "signum", None) or (_received[-1] if _received else signal.SIGINT)
    return Interrupted(signum, what)


def needs_cleaning(client, experiment_ids: list[str], stale_hours: float) -> list[tuple[object, str]]:
    """(run, reason) for every FAILED run and every RUNNING run whose owner is gone, or, where that cannot
    be told (another host, an older run), that started more than `stale_hours` ago."""
    found = []
    now = time.time() * 1000
    for run in client.search_runs(experiment_ids, "attributes.status != 'FINISHED'", max_results=50000):
        status = run.info.status
        if status == "FAILED":
            found.append((run, "failed"))
        elif status == "RUNNING":
            alive = owner_alive(run.data.tags.get(OWNER_TAG))
            hours = (now - run.info.start_time) / 3.6e6
            if alive is False:
                found.append((run, "stale: its process is gone"))
            elif alive is None and hours > stale_hours:
                found.append((run, f"stale: RUNNING for {hours:.0f} h, owner unknown"))
    return found
