"""End to end, as a user runs it: a real Hydra multirun of `python train.py` as a subprocess, single jobs
in this process as train.py calls them (helpers.inprocess; the command line's own answers, bad overrides,
stay subprocesses), a real SQLite MLflow store in a temporary folder, read back through MLflow's own
client."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from helpers.inprocess import evaluate_in_process, train_in_process
from helpers.jobs import TINY, tiny_except, train
from helpers.store import client_for, project_runs
from rcnn_se.data import debian_audio
from rcnn_se.errors import ConfigError
from rcnn_se.evaluation.scoring import read_rows

REAL_NOISE = debian_audio.available()  # CI installs tuxpaint-stamps-default; elsewhere the set is skipped


@pytest.mark.slow
@pytest.mark.xdist_group("headline_sweep")
def test_multirun_logs_one_nested_run_per_job(headline_sweep: tuple[Path, str], tmp_path: Path) -> None:
    client = client_for(headline_sweep[0])
    runs = project_runs(headline_sweep[0])
    parents = [r for r in runs if r.data.tags.get("rcnn_se.kind") == "sweep"]
    jobs = [r for r in runs if r.data.tags.get("rcnn_se.kind") == "job"]
    assert len(parents) == 1 and len(jobs) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == {parent.info.run_id}
    combos = {(r.data.params["choice.model"], float(r.data.params["dropout"])) for r in jobs}
    assert combos == {("rcnn", 0.0), ("rcnn", 0.2), ("cnn", 0.0), ("cnn", 0.2)}
    for run in jobs:
        assert run.info.status == "FINISHED"
        p, m = run.data.params, run.data.metrics
        assert p["model.skip"] == str(p["choice.model"] == "rcnn")
        assert p["optimizer.lr"] == "0.0005" and p["data.stft.n_fft"] == "512"
        for key in ("test/nr", "test/sd", "test/pesq_wb", "test/stoi", "test/si_sdr", "train/loss_epoch"):
            assert key in m, f"{key} missing from {sorted(m)[:20]}"
        rows = read_rows(Path(client.download_artifacts(run.info.run_id, "evaluation/test_utterances.csv")))
        assert m["test/nr"] == pytest.approx(np.mean([r["nr"] for r in rows]), abs=1e-9)
        assert m["test/n_utterances"] == len(rows) == 4
        for r in rows:  # the logged dB forms are the fractions' own
            assert r["sd_db"] == pytest.approx(10 * np.log10(max(r["sd"], 1e-12)), abs=1e-6)
            assert r["nr_db"] == pytest.approx(-10 * np.log10(max(1 - r["nr"], 1e-12)), abs=1e-6)
        assert run.data.tags["rcnn_se.realcheck"] == "scored" and "realcheck/pesq_wb" in m
        assert m["realcheck/n_utterances"] == 4 and m["train/epochs_trained"] == 1
        assert run.data.tags["rcnn_se.realnoise"] == ("scored" if REAL_NOISE else "skipped")
        if REAL_NOISE:  # the same real talkers in real recorded noise, beside the noisy input's scores
            assert m["realnoise/n_utterances"] == 4 and "noisy/realnoise/pesq_wb" in m
            assert "realnoise/pesq_wb" in m and any(k.startswith("realnoise/noise_") for k in m)
        assert m["val/loss_best"] > 0  # what optimized_metric returns to a sweeper
        assert any(k.startswith("test/snr_") for k in m) and any(k.startswith("test/noise_") for k in m)
        assert m["model/parameters"] > 0
        assert 0 <= m["train/silent_output_fraction"] <= 1  # near 1: a dead network (train_job.warn_if_dead)
        assert m["val/mse"] > 0  # the plain error beside the weighted val/loss
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config", "evaluation", "audio", "checkpoints", "figures"} <= artifacts
        figures = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "figures")}
        assert "metrics_vs_snr.png" in figures and any(f.startswith("spectrogram_") for f in figures)
        config_files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "config")}
        assert {"config.yaml", "overrides.yaml", "hydra.yaml"} <= config_files


@pytest.mark.slow
def test_baseline_run_and_bad_override(tmp_path: Path) -> None:
    job = train_in_process(tmp_path, "model=wiener", *[o for o in TINY if not o.startswith("model.")])
    (run,) = project_runs(tmp_path)
    printed = job.output  # the job ends with its scores and its run id
    assert "test: 4 utterances" in printed and "realcheck: 4 utterances" in printed
    assert f"MLflow run {run.info.run_id}" in printed.split("test: 4 utterances")[-1]
    assert run.data.params["choice.model"] == "wiener" and run.data.metrics["model/parameters"] == 0
    assert run.data.params["trainable"] == "false"
    assert "train/loss_epoch" not in run.data.metrics and "test/pesq_wb" in run.data.metrics

    bad = train(tmp_path, "model.chanels=8", check=False)
    assert bad.returncode != 0 and "chanels" in bad.stderr
    bad = train(tmp_path, "model=transformer", check=False)
    assert bad.returncode != 0 and "transformer" in bad.stderr


@pytest.mark.slow
def test_failing_job_in_sweep_is_failed_and_does_not_stop_the_others(tmp_path: Path) -> None:
    # the identity model and no real-speech check: what is under test is the sweep, not what a job scores
    cheap = ["model=noisy", "realcheck.enabled=false", *tiny_except("model.")]
    proc = train(tmp_path, "-m", "data.val_speakers=5,auto", *cheap, check=False)
    assert proc.returncode != 0 and "data.val_speakers=5 but the training set has 3 speakers" in proc.stderr
    runs = project_runs(tmp_path)
    key = "data.val_speakers"
    by_kind = {(r.data.tags["rcnn_se.kind"], r.data.params.get(key)): r.info.status for r in runs}
    assert by_kind == {("sweep", None): "FAILED", ("job", "5"): "FAILED", ("job", "auto"): "FINISHED"}


@pytest.mark.slow
def test_csv_logger_trains_and_scores_without_mlflow(tmp_path: Path) -> None:
    """`logger=csv`: losses, validation and test scores in a CSV folder of the job's own, the job saying
    where; no MLflow store anywhere; a relaunch into the folder finds the job finished; eval.py scores its
    checkpoint into a CSV folder too, and refuses a run id, which only MLflow can resolve."""
    trained = train_in_process(tmp_path, "logger=csv", *TINY)
    (job,) = (tmp_path / "outputs" / "train" / "runs").iterdir()
    assert job == trained.out_dir
    folder = job / "csv" / "version_0"
    printed = trained.output
    assert "test: 4 utterances" in printed and f"CSVLogger logs in {folder}" in printed
    assert "MLflow run" not in printed
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    logged = {key: float(value) for row in rows for key, value in row.items() if value}
    for key in ("train/loss_epoch", "val/loss", "val/loss_best", "test/snr_2.5/pesq_wb", "realcheck/pesq_wb"):
        assert key in logged, f"{key} missing from {sorted(logged)[:20]}"
    if REAL_NOISE:
        assert "realnoise/pesq_wb" in logged and any(k.startswith("noisy/realnoise/snr_") for k in logged)
        assert "realnoise: 4 utterances" in printed and (job / "realnoise_utterances.csv").is_file()
    scored = read_rows(job / "test_utterances.csv")
    assert logged["test/pesq_wb"] == pytest.approx(np.mean([r["pesq_wb"] for r in scored]), abs=1e-9)
    assert logged["noisy/test/pesq_wb"] == pytest.approx(np.mean([r["noisy.pesq_wb"] for r in scored]))
    hparams = (folder / "hparams.yaml").read_text()
    assert "choice.logger: csv" in hparams and "tag.rcnn_se.realcheck: scored" in hparams
    assert f"tag.rcnn_se.realnoise: {'scored' if REAL_NOISE else 'skipped'}" in hparams
    assert (job / "checkpoints" / "last.ckpt").is_file() and (
        job / "figures" / "metrics_vs_snr.png"
    ).is_file()
    assert not (tmp_path / "mlruns").exists() and not list(tmp_path.rglob("mlflow*"))

    again = train_in_process(tmp_path, "logger=csv", *TINY, f"hydra.run.dir={job}")
    assert "nothing to do" in again.output and not (job / "csv" / "version_1").exists()

    demo = [o for o in TINY if o.startswith(("data.", "evaluate.max"))]  # eval.py scores the same demo sets
    with pytest.raises(ConfigError, match="run_id=0123abc: needs logger=mlflow"):
        evaluate_in_process(tmp_path, tmp_path, "logger=csv", "run_id=0123abc", *demo)
    evaluate_in_process(tmp_path, tmp_path, "logger=csv", f"ckpt_path={job}/checkpoints/last.ckpt", *demo)
    (evaluation,) = [d for d in (tmp_path / "outputs" / "eval" / "runs").iterdir() if (d / "csv").is_dir()]
    assert "test/pesq_wb" in (evaluation / "csv" / "version_0" / "metrics.csv").read_text()
    assert json.loads((evaluation / "job_status.json").read_text())["status"] == "FINISHED"
    assert not (tmp_path / "mlruns").exists()
