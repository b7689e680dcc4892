"""A sweep's comparison: built from the jobs' logged metrics in a real SQLite store and logged with the
parent run."""

from __future__ import annotations

import csv
from pathlib import Path

from mlflow.tracking import MlflowClient

from rcnn_se.reporting.sweep_report import report_sweep, short_labels, snr_curves
from rcnn_se.tracking import mlflow_runs


def job(client: MlflowClient, experiment: str, parent: str, name: str, pesq: float) -> str:
    model, overrides = name.split(" ", 1)
    tags = {"rcnn_se.kind": "job", "mlflow.parentRunId": parent, "rcnn_se.model": model,
            "rcnn_se.overrides": f"model={model} {overrides} paths.data_dir=/d"}  # fmt: skip
    run_id = client.create_run(experiment, run_name=name, tags=tags).info.run_id
    metrics = {"test/pesq_wb": pesq, "test/stoi": 0.9, "test/snr_2.5/pesq_wb": pesq - 0.5,
               "test/snr_17.5/pesq_wb": pesq + 0.5, "realcheck/pesq_wb": pesq - 0.1,
               "realnoise/pesq_wb": pesq - 0.4, "noisy/realnoise/pesq_wb": 1.25,
               "noisy/test/pesq_wb": 1.5, "noisy/test/stoi": 0.88, "noisy/test/snr_2.5/pesq_wb": 1.1,
               "noisy/test/snr_17.5/pesq_wb": 2.0}  # fmt: skip
    mlflow_runs.log_metrics(client, run_id, metrics)
    client.set_terminated(run_id)
    return run_id


def test_parent_run_logs_the_comparison_and_its_figure(tmp_path: Path) -> None:
    client = mlflow_runs.client_for(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow_runs.ensure_experiment(client, "e", str(tmp_path / "art"))
    parent = client.create_run(experiment, tags={"rcnn_se.kind": "sweep"}).info.run_id
    first = job(client, experiment, parent, "rcnn dropout=0 trainer.max_epochs=1", 2.0)
    second = job(client, experiment, parent, "rcnn dropout=0.2 trainer.max_epochs=1", 2.25)
    client.set_tag(first, "mlflow.runName", "rcnn dropout=0 trainer.max_ep")  # a name cut short
    children = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    printed = report_sweep(client, parent, children, tmp_path / "sweep").splitlines()
    header = ["job", "status", "PESQ-WB", "STOI", "realcheck", "PESQ-WB", "realnoise", "PESQ-WB", "run"]
    assert printed[1].split() == header
    scores = ["2.000", "0.900", "1.900", "1.600"]  # PESQ-WB, STOI, realcheck's and realnoise's PESQ-WB
    assert printed[2].split() == ["rcnn", "dropout=0", "FINISHED", *scores, first[:8]]
    assert printed[3].split()[:4] == ["rcnn", "dropout=0.2", "FINISHED", "2.250"]
    assert printed[4].split() == ["noisy", "input", "1.500", "0.880", "–", "1.250"]
    logged = {a.path for a in client.list_artifacts(parent, "comparison")}
    assert logged == {f"comparison/{n}" for n in ("comparison.md", "comparison.csv", "metrics_vs_snr.png")}
    folder = Path(client.download_artifacts(parent, "comparison", str(tmp_path / "back")))
    with (folder / "comparison.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["job"] for r in rows] == ["rcnn dropout=0", "rcnn dropout=0.2", "noisy input"]
    assert float(rows[1]["PESQ-WB"]) == 2.25 and rows[1]["run"] == second
    assert float(rows[1]["realnoise PESQ-WB"]) == 1.85 and float(rows[2]["realnoise PESQ-WB"]) == 1.25
    assert "| rcnn dropout=0.2 | FINISHED | 2.250 |" in (folder / "comparison.md").read_text()
    assert (folder / "metrics_vs_snr.png").read_bytes().startswith(b"\x89PNG")


def test_labels_drop_what_every_job_shares() -> None:
    names = ["rcnn dropout=0 seed=1 e=1", "cnn dropout=0 seed=2 e=1"]
    assert short_labels(names) == ["rcnn seed=1", "cnn seed=2"]


def test_snr_curves_read_per_snr_keys_only() -> None:
    metrics = {"test/pesq_wb": 2.0, "test/snr_2.5/pesq_wb": 1.5, "test/noise_bus/pesq_wb": 9.0,
               "realcheck/snr_2.5/pesq_wb": 8.0}  # fmt: skip
    assert snr_curves(metrics) == {2.5: {"pesq_wb": 1.5}}
