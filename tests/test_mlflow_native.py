"""What a user sees after a real two-job sweep (`python train.py -m`, SQLite store): named runs with their
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

from rcnn_se.data.audio import read_wav
from test_train_e2e import TINY, client_for, train


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("native")
    options = ["logger.register_as=tiny_rcnn", "logger.system_metrics_interval=1"]
    proc = train(work, "-m", "dropout=0,0.2", *options, "callbacks.progress_lines.every_n_steps=1", *TINY)
    return work, proc.stdout + proc.stderr


@pytest.mark.slow
def test_runs_carry_names_sources_corpus_and_system_metrics(sweep: tuple[Path, str]) -> None:
    client = client_for(sweep[0])
    experiment = client.get_experiment_by_name("rcnn_se")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags["rcnn_se.kind"] == "sweep"]
    jobs = sorted((r for r in runs if r.data.tags["rcnn_se.kind"] == "job"), key=lambda r: r.info.run_name)
    assert parent.info.run_name.startswith("sweep dropout=0,0.2 trainer.max_epochs=1")
    assert [r.info.run_name.split()[:2] for r in jobs] == [["rcnn", "dropout=0"], ["rcnn", "dropout=0.2"]]
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
def test_logged_model_enhances_a_real_wav_and_is_registered(sweep: tuple[Path, str]) -> None:
    work = sweep[0]
    uri = client_for(work).tracking_uri  # the registry named too: log_enhancer in this process set its own
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'tiny_rcnn'")
    assert sorted(int(v.version) for v in versions) == [1, 2], "each job registered its model"
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
def test_console_reports_progress_each_job_and_the_sweep(sweep: tuple[Path, str]) -> None:
    work, output = sweep
    assert "💡" not in output and "LeafSpec" not in output
    assert "epoch 1/1 step 1/2 loss" in output, "progress lines when stdout is not a terminal"
    assert output.count("against the noisy input") == 2
    assert "     all rcnn " in output and "         noisy " in output
    assert output.count("ui --backend-store-uri sqlite:///") == 2
    comparison = output[output.index("Sweep comparison") :].splitlines()
    assert comparison[2].startswith("rcnn dropout=0 ") and comparison[3].startswith("rcnn dropout=0.2 ")
    assert comparison[4].startswith("noisy input ")
    client = client_for(work)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("rcnn_se").experiment_id], "tags.`rcnn_se.kind` = 'sweep'"
    )
    logged = {a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert logged == {"comparison.md", "comparison.csv", "metrics_vs_snr.png"}
