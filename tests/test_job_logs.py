"""A job logged by a Lightning logger other than MLflow: what lands in its folder, and what a relaunch
into the folder finds there (resume an interrupted job, skip a finished one)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from rcnn_se.jobs.job_logs import STATUS_FILE, LoggerJob, job_log


def csv_job(folder: Path) -> LoggerJob:
    logger = {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": str(folder), "name": "csv"}
    job = job_log(OmegaConf.create({"logger": logger}), folder)
    assert isinstance(job, LoggerJob)
    return job


def test_params_metrics_and_tags_land_in_the_job_folder(tmp_path: Path) -> None:
    job = csv_job(tmp_path)
    assert not job.resuming and job.finished() is None
    with job.open("rcnn dropout=0.2", {"rcnn_se.kind": "job"}) as record:
        record.log_params({"model.channels": "54", "dropout": "0.2"})
        record.log_metrics({"model/parameters": 100.0})
        record.log_metrics({"val/loss_best": 0.25, "test/pesq_wb": 2.5})
        record.set_tag("rcnn_se.realcheck", "skipped")
        record.log_artifact(tmp_path / "absent.csv", "evaluation")  # files stay where the job wrote them
        assert record.metric("test/pesq_wb") == 2.5 and record.metric("test/stoi") is None
        assert str(tmp_path / "csv" / "version_0") in record.where() and "no MLflow store" in record.where()
    folder = tmp_path / "csv" / "version_0"
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [r["model/parameters"] for r in rows] == ["100.0", ""]
    assert float(rows[1]["test/pesq_wb"]) == 2.5 and {r["step"] for r in rows} == {"0"}
    hparams = yaml.safe_load((folder / "hparams.yaml").read_text())
    assert hparams["model.channels"] == "54" and hparams["tag.rcnn_se.realcheck"] == "skipped"
    assert hparams["tag.run_name"] == "rcnn dropout=0.2" and hparams["tag.rcnn_se.kind"] == "job"
    state = json.loads((tmp_path / STATUS_FILE).read_text())
    assert state["status"] == "FINISHED" and state["logs"] == str(folder)

    again = csv_job(tmp_path)  # a relaunch into the folder
    assert again.resuming and "finished" in again.finished()
    assert again.final_metric("val/loss_best") == 0.25 and again.final_metric("val/loss") is None


@pytest.mark.parametrize(("error", "status"), [(KeyboardInterrupt, "KILLED"), (RuntimeError, "FAILED")])
def test_an_interrupted_job_is_resumed_into_a_new_version(tmp_path: Path, error: type, status: str) -> None:
    job = csv_job(tmp_path)
    with pytest.raises(error), job.open("rcnn", {}) as record:
        record.log_metrics({"train/steps": 3.0})
        raise error("stopped")
    assert json.loads((tmp_path / STATUS_FILE).read_text())["status"] == status
    relaunch = csv_job(tmp_path)
    assert relaunch.resuming and relaunch.finished() is None  # resumes from last.ckpt, logs anew
    with relaunch.open("rcnn", {}) as record:
        record.log_metrics({"train/steps": 5.0})
    for version, steps in (("version_0", "3.0"), ("version_1", "5.0")):
        (row,) = csv.DictReader((tmp_path / "csv" / version / "metrics.csv").open())
        assert row["train/steps"] == steps, "a relaunch keeps the first launch's logs"
