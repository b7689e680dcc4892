"""Ctrl-C and SIGTERM as a user (or a scheduler's `kill`) sends them to a running `python train.py`: one
line, no traceback, the run KILLED, and the exit status a shell expects of a death by that signal (128 + its
number: 130 for SIGINT, 143 for SIGTERM), so `make`, CI and job schedulers see an interruption, not a
crash. tests/test_statuses.py resumes interrupted jobs; this file holds what the user reads and the shell
sees."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from helpers.jobs import TESTS, TINY, train
from helpers.store import job_runs


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_a_signal_ends_the_job_in_one_line_with_the_run_killed(tmp_path: Path, signum: int) -> None:
    key = "+callbacks.interrupt"
    killer = [f"{key}._target_=killer.KillAtEpoch", f"{key}.epoch=0", f"{key}.signum={int(signum)}"]
    out = tmp_path / "outputs" / "job"
    proc = train(tmp_path, f"hydra.run.dir={out}", *TINY, *killer, check=False, pythonpath=TESTS)
    (run,) = job_runs(tmp_path)
    assert run.info.status == "KILLED"
    assert proc.returncode == 128 + signum, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    name = signal.Signals(signum).name
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == (
        f"Interrupted by {name}: MLflow run {run.info.run_id} ended KILLED; "
        f"to resume it, relaunch the same command with hydra.run.dir={out}"
    )
    assert [line for line in lines if name in line or "KeyboardInterrupt" in line] == lines[-1:], lines


@pytest.mark.slow
def test_ctrl_c_before_the_job_starts_is_one_line_too(tmp_path: Path) -> None:
    """A Ctrl-C while Hydra composes the config or the job's imports load, before the job's own handler:
    one line and 130, no traceback and no run."""
    interrupt = "+hydra.callbacks.interrupt._target_=killer.InterruptAtRunStart"
    proc = train(tmp_path, interrupt, *TINY, check=False, pythonpath=TESTS)
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == ["Interrupted by SIGINT"], proc.stderr[-3000:]
    assert not (tmp_path / "mlruns").exists(), "no store, no run"
