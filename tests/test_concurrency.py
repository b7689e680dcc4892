"""Jobs started together, alone and through the parallel launcher: each gets its own output folder and MLflow
run, and a fresh SQLite store is set up once, not raced (rcnn_se.jobs.job_dir, rcnn_se.tracking.store)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers.jobs import tiny_except, train_command
from helpers.store import client_for, job_runs


@pytest.mark.slow
def test_jobs_and_a_parallel_sweep_started_at_once_on_a_fresh_store(tmp_path: Path) -> None:
    """Two single jobs and a two-job `hydra/launcher=local_parallel` sweep, started together: four jobs
    race to set up one new SQLite store and to claim their folders."""
    args = ["evaluate.workers=0", "threads=1", "realcheck.enabled=false", *tiny_except("evaluate.workers")]
    # scoring in the job's own process, as the single jobs do (metric workers inside a joblib worker:
    # tests/test_metric_pool.py)
    sweep = ["-m", "hydra/launcher=local_parallel", "model=rcnn,cnn"]
    procs = []
    for extra in (["seed=0"], ["seed=1"], sweep):
        cmd, env = train_command(tmp_path, *args, *extra)
        procs.append(subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True))
    errors = [p.communicate(timeout=900)[1] for p in procs]
    failed = [err[-2000:] for p, err in zip(procs, errors, strict=True) if p.returncode != 0]
    assert not failed, "\n\n".join(failed)
    assert not any("database is locked" in err for err in errors)

    runs = job_runs(tmp_path)
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    swept = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(swept) == 2 and len({r.data.tags["mlflow.parentRunId"] for r in swept}) == 1
    folders = sorted((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(folders) == 2
    client = client_for(tmp_path)
    seen = {r.info.run_id for r in swept}
    for folder in folders:
        run_id = json.loads((folder / "mlflow_run.json").read_text())["run_id"]
        seed = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())["seed"]
        run = client.get_run(run_id)
        assert run.data.params["seed"] == str(seed) and run.data.tags["rcnn_se.output_dir"] == str(folder)
        logged = Path(client.download_artifacts(run_id, "config/config.yaml", str(tmp_path / run_id)))
        assert yaml.safe_load(logged.read_text())["seed"] == seed
        seen.add(run_id)
    assert len(seen) == 4
    for run in runs:  # each log holds its own job only
        log = (Path(run.data.tags["rcnn_se.output_dir"]) / "train.log").read_text()
        assert run.info.run_id in log and not any(other in log for other in seen if other != run.info.run_id)
