"""Growing past one process: DDP with one run per job, submitit's launcher and its requeue, resume after a
kill (parallel sweeps on the SQLite store: tests/test_concurrency.py). The launchers and the kill need
processes of their own; the relaunches after a kill that check what a job does with its folder run in this
process (helpers.inprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.inprocess import train_in_process
from helpers.jobs import TESTS, TINY, tiny_except, train
from helpers.store import client_for, job_runs
from rcnn_se.jobs.resume import OtherJobError


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_logs_one_run(tmp_path: Path) -> None:
    train(tmp_path, "trainer=ddp", "trainer.devices=2", "threads=1", *TINY)
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
    args = [f"hydra.run.dir={out}", "scheduler=plateau", *tiny_except("trainer.max_epochs"), *killer]
    killed = train(tmp_path, *args, "trainer.max_epochs=3", check=False, pythonpath=TESTS)
    assert killed.returncode != 0
    run_id = json.loads((out / "mlflow_run.json").read_text())["run_id"]
    assert (out / "checkpoints" / "last.ckpt").is_file()
    (interrupted,) = job_runs(tmp_path)
    assert interrupted.info.status == "RUNNING" and "test/pesq_wb" not in interrupted.data.metrics
    saved = {p.name: p.read_bytes() for p in (out / ".hydra").iterdir()}

    other = train(tmp_path, *args, "trainer.max_epochs=3", "model=cnn", check=False, pythonpath=TESTS)
    assert other.returncode != 0 and "Traceback" not in other.stderr
    assert f"{out} holds another job with other settings (model: rcnn -> cnn)" in other.stderr
    assert "relaunch with the folder's own overrides" in other.stderr
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


@pytest.mark.slow
def test_submitit_sweep_runs_and_a_timed_out_job_is_requeued_and_resumes(tmp_path: Path) -> None:
    """The SLURM launcher's machinery (pickled job, submitit's runner in another process, Hydra callbacks
    there) through submitit's local executor: what `hydra/launcher=slurm` does on a cluster, minus sbatch.
    One job of the sweep is signalled at its time limit (SLURM would preempt or time it out the same way;
    here the job sends itself the signal, killer.TimeLimitOnce), is checkpointed and requeued by submitit,
    and resumes from last.ckpt into the same MLflow run; the other runs through."""
    train(
        tmp_path,
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",  # not waited for (killer.TimeLimitOnce); the requeued job's limit
        "+hydra.launcher.max_num_timeout=1",
        "hydra.launcher.cpus_per_task=1",
        "model=rcnn,cnn",
        "evaluate.workers=0",
        "threads=1",
        "trainer.max_epochs=3",
        "+callbacks.stall._target_=killer.TimeLimitOnce",
        f"+callbacks.stall.marker={tmp_path / 'stalled'}",
        *tiny_except("evaluate.workers", "trainer.max_epochs"),
        pythonpath=TESTS,
    )
    assert (tmp_path / "stalled").is_file()
    runs = job_runs(tmp_path)
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["rcnn_se.model"] for r in runs} == {"rcnn", "cnn"}
    (parent_id,) = {r.data.tags["mlflow.parentRunId"] for r in runs}
    client = client_for(tmp_path)
    assert client.get_run(parent_id).info.status == "FINISHED"
    assert len(list(tmp_path.glob("outputs/train/multiruns/*/.submitit/*/*_result.pkl"))) == 2
    for run in runs:  # both ran every epoch into their one run, the requeued one across its two processes
        assert "test/pesq_wb" in run.data.metrics
        assert {0.0, 1.0, 2.0} <= {m.value for m in client.get_metric_history(run.info.run_id, "epoch")}
    logs = [p.read_text() for p in tmp_path.glob("outputs/train/multiruns/*/.submitit/*/*_log.err")]
    (requeued,) = [text for text in logs if "timed-out" in text]
    assert "Restored all states from the checkpoint" in requeued
