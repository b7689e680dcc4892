"""What a user sees after a real four-job sweep (`python train.py -m`, SQLite store): named runs with their
corpus, sources and system metrics, a logged and registered model that enhances a real wav file, progress
lines and closing tables in the console, and the sweep's comparison logged with its parent run."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from helpers.store import client_for, project_runs
from rcnn_se.data.audio import read_wav


@pytest.mark.slow
@pytest.mark.xdist_group("headline_sweep")
def test_runs_carry_names_sources_corpus_and_system_metrics(headline_sweep: tuple[Path, str]) -> None:
    client = client_for(headline_sweep[0])
    experiment = client.get_experiment_by_name("rcnn_se")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags["rcnn_se.kind"] == "sweep"]
    jobs = sorted((r for r in runs if r.data.tags["rcnn_se.kind"] == "job"), key=lambda r: r.info.run_name)
    assert parent.info.run_name.startswith("sweep model=rcnn,cnn dropout=0,0.2 trainer.max_epochs=1")
    names = [r.info.run_name.split()[:2] for r in jobs]
    assert names == [[m, d] for m in ("cnn", "rcnn") for d in ("dropout=0", "dropout=0.2")]
    for run in [parent, *jobs]:
        tags = run.data.tags
        assert tags["mlflow.source.name"].startswith("train.py") and tags["mlflow.user"]
        assert len(tags["mlflow.source.git.commit"]) in (40, 7), "a commit hash, or 'unknown' outside git"
    for run in jobs:
        inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
        assert sorted(inputs) == ["test", "training", "validation"]
        assert {d.name for d in inputs.values()} == {"demo v6"}
        assert "system/cpu_utilization_percentage" in run.data.metrics
        assert "system/system_memory_usage_megabytes" in run.data.metrics
        m = run.data.metrics
        assert m["noisy/test/nr"] == 0.0 and m["noisy/test/pesq_wb"] != m["test/pesq_wb"]


@pytest.mark.slow
@pytest.mark.xdist_group("headline_sweep")
def test_logged_model_enhances_a_real_wav_and_is_registered(headline_sweep: tuple[Path, str]) -> None:
    work = headline_sweep[0]
    uri = client_for(work).tracking_uri  # the registry named too: log_enhancer in this process set its own
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'tiny_rcnn'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4], "each job registered its model"
    mlflow.set_tracking_uri(client.tracking_uri)
    run_id = next(v.run_id for v in versions if int(v.version) == 1)
    corpus = Path(os.environ["RCNN_SE_TEST_DATA"]) / "demo_corpus"
    wav = next(corpus.glob("noisy_testset_wav/*.wav"))
    samples, sr = read_wav(wav)
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    out = model.predict(pd.DataFrame({"waveform": [samples], "sample_rate": [sr]}))
    enhanced = np.asarray(out["waveform"][0])
    assert enhanced.shape == samples.shape and np.isfinite(enhanced).all()
    assert 1e-4 < np.sqrt(np.mean((enhanced - samples) ** 2)) < np.sqrt(np.mean(samples**2))
    model_dir = Path(client.download_artifacts(run_id, "model", str(work / "model_copy")))
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    assert size < 2_000_000, f"the model artifact is {size} bytes"


@pytest.mark.slow
@pytest.mark.xdist_group("headline_sweep")
def test_console_reports_progress_each_job_and_the_sweep(headline_sweep: tuple[Path, str]) -> None:
    work, output = headline_sweep
    assert "💡" not in output and "LeafSpec" not in output and "Add type hints" not in output
    assert "epoch 1/1 step 1/2 loss" in output, "progress lines when stdout is not a terminal"
    assert output.count("against the noisy input") == 4
    assert "     all rcnn " in output and "         noisy " in output
    assert output.count("ui --backend-store-uri sqlite:///") == 4
    comparison = output[output.index("Sweep comparison") :].splitlines()
    assert comparison[2].startswith("rcnn dropout=0 ") and comparison[3].startswith("rcnn dropout=0.2 ")
    assert comparison[4].startswith("cnn dropout=0 ") and comparison[5].startswith("cnn dropout=0.2 ")
    assert comparison[6].startswith("noisy input ")
    client = client_for(work)
    (parent,) = project_runs(work, "tags.`rcnn_se.kind` = 'sweep'")
    logged = {a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert logged == {"comparison.md", "comparison.csv", "metrics_vs_snr.png"}
