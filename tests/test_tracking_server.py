"""A real `mlflow server` on loopback: logging through HTTP works as with the local SQLite store (the job in
this process: the server is the other process that matters here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers.inprocess import train_in_process
from helpers.jobs import TINY


@pytest.mark.slow
def test_job_logs_through_http_server(mlflow_server: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    train_in_process(work, f"logger.tracking_uri={mlflow_server}", *TINY)
    assert not (work / "mlruns").exists(), "nothing may go to the local store when a server is configured"
    client = MlflowClient(tracking_uri=mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("rcnn_se").experiment_id])
    assert run.info.status == "FINISHED" and "test/pesq_wb" in run.data.metrics
    assert run.data.params["logger.tracking_uri"] == mlflow_server
    assert {"config", "evaluation", "checkpoints"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    local = client.download_artifacts(run.info.run_id, "evaluation", str(tmp_path))
    assert (Path(local) / "test_utterances.csv").read_text().startswith("uid,")
