"""A real `mlflow server` on loopback: logging through HTTP works as with the local SQLite store (the job in
this process: the server is the other process that matters here), and a CSV log beside the MLflow run
(`logger=mlflow_csv`) gets the same params and scores."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import Server
from helpers.inprocess import train_in_process
from helpers.jobs import TINY


@pytest.mark.slow
def test_job_logs_through_http_server(mlflow_server: Server, tmp_path: Path) -> None:
    work, url = tmp_path / "work", mlflow_server.url
    work.mkdir()
    job = train_in_process(work, "logger=mlflow_csv", f"logger.mlflow.tracking_uri={url}", *TINY)
    assert not (work / "mlruns").exists(), "nothing may go to the local store when a server is configured"
    client = MlflowClient(tracking_uri=url)
    (run,) = client.search_runs([client.get_experiment_by_name("rcnn_se").experiment_id])
    assert run.info.status == "FINISHED" and "test/pesq_wb" in run.data.metrics
    assert run.data.params["logger.mlflow.tracking_uri"] == url
    if mlflow_server.store.startswith("postgresql://"):  # the run is in the database server's own tables
        import psycopg

        with psycopg.connect(mlflow_server.store) as db, db.cursor() as cursor:
            cursor.execute("SELECT status FROM runs WHERE run_uuid = %s", (run.info.run_id,))
            assert cursor.fetchall() == [("FINISHED",)]
    assert {"config", "evaluation", "checkpoints"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    local = client.download_artifacts(run.info.run_id, "evaluation", str(tmp_path))
    assert (Path(local) / "test_utterances.csv").read_text().startswith("uid,")

    folder = job.out_dir / "csv" / "version_0"
    assert f"CSVLogger also logs in {folder}" in job.output
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    logged = {key: float(value) for row in rows for key, value in row.items() if value}
    assert "train/loss_epoch" in logged and "val/loss" in logged
    assert logged["test/pesq_wb"] == run.data.metrics["test/pesq_wb"]
    hparams = yaml.safe_load((folder / "hparams.yaml").read_text())
    assert hparams["choice.logger"] == "mlflow_csv" and hparams["tag.run_name"] == run.info.run_name
