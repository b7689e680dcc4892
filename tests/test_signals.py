"""Ctrl-C and SIGTERM as a user (or a scheduler's `kill`) sends them to a running `python train.py`: one
line, no traceback, the run KILLED, and the exit status a shell expects of a death by that signal (128 + its
number: 130 for SIGINT, 143 for SIGTERM), so `make`, CI and job schedulers see an interruption, not a
crash; and the relaunch that resumes the interrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from helpers.inprocess import train_in_process
from helpers.jobs import TESTS, TINY, tiny_except, train
from helpers.store import job_runs


def ended_by(proc: subprocess.CompletedProcess, signum: int, run_id: str, out: Path) -> None:
    """One line naming the signal and the KILLED run, last; no traceback; exit 128 + the signal's number."""
    assert proc.returncode == 128 + signum, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    name = signal.Signals(signum).name
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == (
        f"Interrupted by {name}: MLflow run {run_id} ended KILLED; "
        f"to resume it, relaunch the same command with hydra.run.dir={out}"
    )
    assert [line for line in lines if name in line or "KeyboardInterrupt" in line] == lines[-1:], lines


@pytest.mark.slow
def test_ctrl_c_then_sigterm_end_the_run_killed_and_it_resumes_around_a_truncated_checkpoint(
    tmp_path: Path,
) -> None:
    """Ctrl-C at epoch 1; the relaunch finds last.ckpt truncated (as a kill while writing it leaves it),
    resumes from the epoch checkpoint instead and gets SIGTERM at epoch 2; the next relaunch finishes the
    same run."""
    out = tmp_path / "outputs" / "job"
    killers = []
    for name, signum, epoch in [("ctrl_c", signal.SIGINT, 1), ("term", signal.SIGTERM, 2)]:
        key = f"+callbacks.{name}"
        killers += [f"{key}._target_=killer.KillAtEpoch", f"{key}.epoch={epoch}",
                    f"{key}.marker={tmp_path / name}", f"{key}.signum={int(signum)}"]  # fmt: skip
    args = [f"hydra.run.dir={out}", "trainer.max_epochs=3", "realcheck.enabled=false"]
    args += [*tiny_except("trainer.max_epochs"), *killers]
    interrupted = train(tmp_path, *args, check=False, pythonpath=TESTS)  # Ctrl-C at epoch 1
    (run,) = job_runs(tmp_path)
    assert run.info.status == "KILLED"
    ended_by(interrupted, signal.SIGINT, run.info.run_id, out)
    assert (out / "checkpoints" / "epoch000.ckpt").is_file()
    last = out / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:4096])

    terminated = train(tmp_path, *args, check=False, pythonpath=TESTS)  # SIGTERM at epoch 2
    printed = terminated.stdout + terminated.stderr
    assert "last.ckpt: not a readable checkpoint" in printed
    assert f"resuming from {out / 'checkpoints' / 'epoch000.ckpt'} instead of {last}" in printed
    (run,) = job_runs(tmp_path)
    assert run.info.status == "KILLED"
    ended_by(terminated, signal.SIGTERM, run.info.run_id, out)

    train_in_process(tmp_path, *args, pythonpath=TESTS)  # the relaunch that ends it, in this process
    (run,) = job_runs(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.info.run_id == json.loads((out / "mlflow_run.json").read_text())["run_id"]


@pytest.mark.slow
def test_ctrl_c_before_the_job_starts_is_one_line_too(tmp_path: Path) -> None:
    """A Ctrl-C while Hydra composes the config or the job's imports load, before the job's own handler:
    one line and 130, no traceback and no run."""
    interrupt = "+hydra.callbacks.interrupt._target_=killer.InterruptAtRunStart"
    proc = train(tmp_path, interrupt, *TINY, check=False, pythonpath=TESTS)
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == ["Interrupted by SIGINT"], proc.stderr[-3000:]
    assert not (tmp_path / "mlruns").exists(), "no store, no run"
