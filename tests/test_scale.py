"""Growing past one process: DDP with one run per job, the SLURM launcher on a real cluster and its requeue,
resume after a kill (parallel sweeps on the SQLite store: tests/test_concurrency.py). The launchers and the
kill need processes of their own; the relaunches after a kill that check what a job does with its folder
run in this process (helpers.inprocess)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from helpers.inprocess import train_in_process
from helpers.jobs import TESTS, TINY, tiny_except, train, train_command
from helpers.store import client_for, job_runs
from rcnn_se.jobs.resume import OtherJobError


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_logs_one_run(tmp_path: Path) -> None:
    train(tmp_path, "trainer=ddp", "trainer.devices=2", "threads=1", "realcheck.enabled=false", *TINY)
    (run,) = job_runs(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.strategy"] == "ddp" and "test/pesq_wb" in run.data.metrics


@pytest.mark.slow
def test_killed_run_resumes_into_same_mlflow_run(tmp_path: Path) -> None:
    """Killed, then relaunched: another config is refused and leaves the folder as it was; the same config
    (trainer limits may grow) resumes into the same run; a finished folder does nothing, or refuses."""
    out = tmp_path / "outputs" / "job"
    killer = ["+callbacks.killer._target_=killer.KillAtEpoch", f"+callbacks.killer.marker={tmp_path / 'k'}"]
    # a schedule that does not span the run's length, so that the limit may grow (rcnn_se.jobs.resume)
    args = [f"hydra.run.dir={out}", "scheduler=plateau", "realcheck.enabled=false"]
    args += [*tiny_except("trainer.max_epochs"), *killer]
    killed = train(tmp_path, *args, "trainer.max_epochs=3", check=False, pythonpath=TESTS)
    assert killed.returncode != 0
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    assert (out / "checkpoints" / "last.ckpt").is_file()
    (interrupted,) = job_runs(tmp_path)
    assert interrupted.info.status == "RUNNING" and "test/pesq_wb" not in interrupted.data.metrics
    saved = {p.name: p.read_bytes() for p in (out / ".hydra").iterdir()}

    # refused in this process (a refusal is one line at the command line: tests/test_statuses.py)
    with pytest.raises(OtherJobError) as other:
        train_in_process(tmp_path, *args, "trainer.max_epochs=3", "model=cnn", pythonpath=TESTS)
    assert f"{out} holds another job with other settings (model: rcnn -> cnn)" in str(other.value)
    assert "relaunch with the folder's own overrides" in str(other.value)
    assert {p.name: p.read_bytes() for p in (out / ".hydra").iterdir()} == saved
    assert client_for(tmp_path).get_run(run_id).data.params["model.skip"] == "True"

    resumed = train_in_process(tmp_path, *args, "trainer.max_epochs=4", pythonpath=TESTS)  # a limit may grow
    assert "resuming MLflow run" in resumed.output
    (run,) = job_runs(tmp_path)
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    client = client_for(tmp_path)
    epochs = {m.value for m in client.get_metric_history(run_id, "epoch")}
    assert {0.0, 1.0, 2.0, 3.0} <= epochs
    assert "test/pesq_wb" in run.data.metrics

    again = train_in_process(tmp_path, *args, "trainer.max_epochs=4", pythonpath=TESTS)
    assert "nothing to do" in again.output
    saved = {p.name: p.read_bytes() for p in (out / ".hydra").iterdir()}
    for change, said in [("seed=7", "another job"), ("trainer.max_epochs=5", "a finished job")]:
        with pytest.raises(OtherJobError, match=f"holds {said} with other settings") as refused:
            train_in_process(tmp_path, *args, change, pythonpath=TESTS)  # not trained further
        assert "nothing to do" not in refused.value.job_output
    assert {p.name: p.read_bytes() for p in (out / ".hydra").iterdir()} == saved
    assert len(job_runs(tmp_path)) == 1


def training(project: Path) -> bool:
    """Whether a job of `project` has logged a finished epoch into its MLflow run."""
    store = project / "mlruns" / "mlflow.db"
    if not store.is_file():
        return False
    try:
        runs = job_runs(project)
    except Exception:  # the store is being created by the job
        return False
    client = client_for(project)
    return any(client.get_metric_history(r.info.run_id, "epoch") for r in runs)


def release_requeued(env: dict[str, str]) -> None:
    """SLURM holds a requeued batch job for about two minutes before it may start again (requeued at
    22:15:25, started at 22:17:34 on the test cluster, 2026-12-07): make such a job eligible now, as an
    administrator can, so the test does not sit out the hold."""
    pending = subprocess.run(
        ["squeue", "-h", "-t", "PD", "-o", "%i %r"], env=env, capture_output=True, text=True
    )
    for line in pending.stdout.splitlines():
        job, reason = line.split(maxsplit=1)
        if reason.strip() == "BeginTime":
            subprocess.run(
                ["scontrol", "update", f"JobId={job}", "StartTime=now"], env=env, capture_output=True
            )


@pytest.mark.slow
def test_slurm_sweep_runs_and_a_timed_out_job_is_requeued_and_resumes(
    tmp_path: Path, slurm: dict[str, str]
) -> None:
    """`hydra/launcher=slurm` against a real one-node SLURM cluster (conftest.slurm): each sweep job is a
    SLURM job (sbatch), run by slurmd through submitit's runner with the Hydra callbacks there. One job is
    signalled ahead of its time limit (the signal SLURM sends at `--signal=USR2@90`; here the job sends it
    itself, killer.TimeLimitOnce, instead of waiting out a limit), is checkpointed and requeued by submitit
    through `scontrol requeue`, and resumes from last.ckpt into the same MLflow run; the other runs
    through."""
    marker = tmp_path / "stalled"
    cmd, env = train_command(
        tmp_path,
        "-m",
        "hydra/launcher=slurm",
        "hydra.launcher.timeout_min=5",
        "hydra.launcher.max_num_timeout=1",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.gpus_per_node=null",  # the test node has no GPU
        "hydra.launcher.mem_gb=1",
        "model=rcnn,cnn",
        "evaluate.workers=0",
        "realcheck.enabled=false",
        "threads=1",
        "trainer.max_epochs=3",
        "+callbacks.stall._target_=killer.TimeLimitOnce",
        f"+callbacks.stall.marker={marker}",
        *tiny_except("evaluate.workers", "trainer.max_epochs"),
        pythonpath=TESTS,
    )
    env |= slurm
    log = tmp_path / "sweep.log"  # a file, not a pipe: nobody reads a pipe while the loop waits
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    cancelled = tmp_path / "cancelled"  # a second project beside it, whose one job is scancel-led
    cancelled.mkdir()
    cancel_cmd, cancel_env = train_command(
        cancelled,
        "-m",
        "hydra/launcher=slurm",
        "hydra.launcher.name=cancel_me",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.gpus_per_node=null",
        "hydra.launcher.mem_gb=1",
        "seed=5",
        "realcheck.enabled=false",
        "threads=1",
        "trainer.max_epochs=10000",  # it trains until it is cancelled
        *tiny_except("trainer.max_epochs"),
    )
    cancel_log = cancelled / "sweep.log"
    with cancel_log.open("w") as out:
        cancel_proc = subprocess.Popen(
            cancel_cmd, cwd=cancelled, env=cancel_env | slurm, stdout=out, stderr=subprocess.STDOUT
        )
    deadline, sent = time.monotonic() + 600, False
    while (proc.poll() is None or cancel_proc.poll() is None) and time.monotonic() < deadline:
        if marker.exists():
            release_requeued(env)
        if not sent and training(cancelled):
            subprocess.run(["scancel", "-n", "cancel_me"], env=env, check=True)
            sent = True
        time.sleep(1)
    for running, output in ((proc, log), (cancel_proc, cancel_log)):
        if running.poll() is None:
            running.kill()
            running.wait()
            pytest.fail(f"a SLURM sweep did not end in 600 s:\n{output.read_text()[-5000:]}")
    # `scancel`: SIGTERM with no time-out warning before it; the job ends its run KILLED and submitit, which
    # reads the job's state from SLURM's accounting, ends the sweep saying so
    said = cancel_log.read_text()
    assert cancel_proc.returncode != 0 and "CANCELLED" in said, said[-3000:]
    (killed,) = job_runs(cancelled)
    assert killed.info.status == "KILLED", killed.info.status
    assert proc.returncode == 0, log.read_text()[-5000:]
    assert marker.is_file()
    runs = job_runs(tmp_path)
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["rcnn_se.model"] for r in runs} == {"rcnn", "cnn"}
    (parent_id,) = {r.data.tags["mlflow.parentRunId"] for r in runs}
    client = client_for(tmp_path)
    assert client.get_run(parent_id).info.status == "FINISHED"
    assert len(list(tmp_path.glob("outputs/train/multiruns/*/.submitit/*/*_result.pkl"))) == 2
    for run in runs:  # both ran every epoch into their one run, the requeued one across its two SLURM starts
        assert "test/pesq_wb" in run.data.metrics
        assert {0.0, 1.0, 2.0} <= {m.value for m in client.get_metric_history(run.info.run_id, "epoch")}
    logs = [p.read_text() for p in tmp_path.glob("outputs/train/multiruns/*/.submitit/*/*_log.err")]
    (requeued,) = [text for text in logs if "this job is timed-out" in text]
    assert "Restored all states from the checkpoint" in requeued
