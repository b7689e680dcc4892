"""End to end, as a user runs it: `python train.py` as a subprocess, a real Hydra multirun, a real SQLite
MLflow store in a temporary folder, read back through MLflow's own client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from rcnn_se.evaluate import read_rows

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "data.demo.n_train_speakers=3",
    "data.demo.n_test_speakers=1",
    "data.demo.sample_rate=16000",
    "data.source_sample_rate=16000",
    "data.segment_frames=16",
    "model.channels=8",
    "evaluate.max_utterances=4",
    "evaluate.workers=2",
    "evaluate.n_audio_examples=1",
    "callbacks.rich_progress_bar=null",
]


def train_command(tmp: Path, *args: str, pythonpath: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `python train.py ARGS` run from `tmp` as its project root."""
    env = {**os.environ, "RCNN_SE_ROOT": str(tmp), "PYTHONUNBUFFERED": "1"}
    if pythonpath is not None:  # the tests' own callbacks (killer.py), trusted as a user's module would be
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
        env["RCNN_SE_TRUSTED_TARGETS"] = "killer."
    cmd = [sys.executable, str(ROOT / "train.py"), *args, f"paths.data_dir={os.environ['RCNN_SE_TEST_DATA']}"]
    return cmd, env


def train(
    tmp: Path,
    *args: str,
    check: bool = True,
    pythonpath: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    cmd, base = train_command(tmp, *args, pythonpath=pythonpath)
    proc = subprocess.run(cmd, cwd=tmp, env=base | (env or {}), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"train.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def client_for(tmp: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")


@pytest.mark.slow
def test_multirun_logs_one_nested_run_per_job(tmp_path: Path) -> None:
    train(tmp_path, "-m", "model=rcnn,cnn", "dropout=0,0.2", *TINY)
    client = client_for(tmp_path)
    exp = client.get_experiment_by_name("rcnn_se")
    runs = client.search_runs([exp.experiment_id], max_results=100)
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
        assert m["val/loss_best"] > 0  # what optimized_metric returns to a sweeper
        assert any(k.startswith("test/snr_") for k in m) and any(k.startswith("test/noise_") for k in m)
        assert m["model/parameters"] > 0
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config", "evaluation", "audio", "checkpoints", "figures"} <= artifacts
        figures = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "figures")}
        assert "metrics_vs_snr.png" in figures and any(f.startswith("spectrogram_") for f in figures)
        config_files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "config")}
        assert {"config.yaml", "overrides.yaml", "hydra.yaml"} <= config_files


@pytest.mark.slow
def test_baseline_run_and_bad_override(tmp_path: Path) -> None:
    proc = train(tmp_path, "model=wiener", *[o for o in TINY if not o.startswith("model.")])
    client = client_for(tmp_path)
    (run,) = client.search_runs([client.get_experiment_by_name("rcnn_se").experiment_id])
    printed = proc.stdout + proc.stderr  # the job ends with its scores and its run id
    assert "test: 4 utterances" in printed and "realcheck: 4 utterances" in printed
    assert f"MLflow run {run.info.run_id}" in printed.split("test: 4 utterances")[-1]
    assert run.data.params["choice.model"] == "wiener" and run.data.metrics["model/parameters"] == 0
    assert "train/loss_epoch" not in run.data.metrics and "test/pesq_wb" in run.data.metrics

    bad = train(tmp_path, "model.chanels=8", check=False)
    assert bad.returncode != 0 and "chanels" in bad.stderr
    bad = train(tmp_path, "model=transformer", check=False)
    assert bad.returncode != 0 and "transformer" in bad.stderr


@pytest.mark.slow
def test_failed_job_marks_run_failed(tmp_path: Path) -> None:
    proc = train(tmp_path, "snr=7", *TINY, check=False)
    assert proc.returncode != 0 and "snr=7 matches no utterance" in proc.stderr
    client = client_for(tmp_path)
    (run,) = client.search_runs([client.get_experiment_by_name("rcnn_se").experiment_id])
    assert run.info.status == "FAILED"


@pytest.mark.slow
def test_failing_job_in_sweep_does_not_stop_the_others(tmp_path: Path) -> None:
    proc = train(tmp_path, "-m", "snr=7,all", *TINY, check=False)
    assert proc.returncode != 0 and "snr=7 matches no utterance" in proc.stderr
    client = client_for(tmp_path)
    runs = client.search_runs([client.get_experiment_by_name("rcnn_se").experiment_id])
    by_kind = {(r.data.tags["rcnn_se.kind"], r.data.params.get("snr")): r.info.status for r in runs}
    assert by_kind == {("sweep", None): "FAILED", ("job", "7"): "FAILED", ("job", "all"): "FINISHED"}
