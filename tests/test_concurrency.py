"""Jobs started together: each gets its own output folder and MLflow run, and a fresh SQLite store is set up
once, not raced (rcnn_se.jobs.job_dir, rcnn_se.tracking.store)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers.jobs import tiny_except, train_command
from helpers.store import client_for, job_runs


@pytest.mark.slow
def test_four_jobs_started_at_once_on_a_fresh_store(tmp_path: Path) -> None:
    args = ["evaluate.workers=0", "threads=1", "realcheck.enabled=false", *tiny_except("evaluate.workers")]
    procs = []
    for seed in range(4):
        cmd, env = train_command(tmp_path, f"seed={seed}", *args)
        procs.append(subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True))
    errors = [p.communicate(timeout=900)[1] for p in procs]
    failed = [err[-2000:] for p, err in zip(procs, errors, strict=True) if p.returncode != 0]
    assert not failed, "\n\n".join(failed)

    runs = job_runs(tmp_path)
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    folders = sorted((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(folders) == 4
    client = client_for(tmp_path)
    seen = set()
    for folder in folders:
        run_id = json.loads((folder / "mlflow_run.json").read_text())["run_id"]
        seed = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())["seed"]
        run = client.get_run(run_id)
        assert run.data.params["seed"] == str(seed) and run.data.tags["rcnn_se.output_dir"] == str(folder)
        logged = Path(client.download_artifacts(run_id, "config/config.yaml", str(tmp_path / run_id)))
        assert yaml.safe_load(logged.read_text())["seed"] == seed
        seen.add((run_id, seed))
    assert {seed for _, seed in seen} == {0, 1, 2, 3}
    for folder in folders:  # each log holds its own job only
        run_id = json.loads((folder / "mlflow_run.json").read_text())["run_id"]
        log = (folder / "train.log").read_text()
        assert run_id in log and not any(other in log for other, _ in seen if other != run_id)
