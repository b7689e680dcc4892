"""Run names, source tags and the corpus a run logs as its MLflow dataset inputs (real store, real wavs)."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from rcnn_se.data.datamodule import EdinburghDataModule
from rcnn_se.tracking import mlflow_runs
from rcnn_se.tracking.run_metadata import (
    configuration_overrides,
    corpus_version,
    job_run_name,
    log_corpus,
    source_tags,
    sweep_run_name,
    system_metrics,
)


def test_run_name_says_the_configuration_and_leaves_out_where_it_ran() -> None:
    overrides = ["model=rcnn", "paths.data_dir=/x", "evaluate.workers=2", "trainer.max_epochs=1",
                 "dropout=0.2", "seed=1", "model.channels=8",
                 "logger.mlflow.tracking_uri=http://h:1"]  # fmt: skip
    assert configuration_overrides(overrides) == [
        "model=rcnn", "trainer.max_epochs=1", "dropout=0.2", "seed=1", "model.channels=8"
    ]  # fmt: skip
    assert job_run_name("rcnn", overrides) == "rcnn dropout=0.2 seed=1 model.channels=8 trainer.max_epochs=1"
    assert job_run_name("cnn", ["dropout=0.2", "seed=1"]) == "cnn dropout=0.2 seed=1"
    assert job_run_name("rcnn", []) == "rcnn"


def test_sweep_name_shows_what_it_sweeps() -> None:
    assert sweep_run_name(["model=rcnn,cnn", "dropout=0,0.2", "threads=1"], Path("/s/2026")) == (
        "sweep model=rcnn,cnn dropout=0,0.2"
    )
    assert sweep_run_name(["+experiment=paper_table1"], Path("/s/x")) == "sweep +experiment=paper_table1"
    assert sweep_run_name(["paths.log_dir=/o"], Path("/s/2026-12-02_06-00-00")) == "sweep 2026-12-02_06-00-00"


def test_source_tags_fill_mlflows_columns() -> None:
    tags = source_tags("train.py", "abc")
    assert tags["mlflow.source.name"] == "train.py" and tags["mlflow.source.git.commit"] == "abc"
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.user"]


def test_experiment_opens_in_the_training_view_new_or_old(tmp_path: Path) -> None:
    client = mlflow_runs.client_for(f"sqlite:///{tmp_path / 'mlflow.db'}")
    new = mlflow_runs.ensure_experiment(client, "fresh", str(tmp_path / "art"))
    old = client.create_experiment("made_before_the_tag")
    assert mlflow_runs.ensure_experiment(client, "made_before_the_tag", None) == old
    for experiment_id in (new, old):
        tags = client.get_experiment(experiment_id).tags
        assert tags["mlflow.experimentKind"] == "custom_model_development"


def test_corpus_is_logged_as_dataset_inputs_per_split(tiny_corpus: Path, tmp_path: Path) -> None:
    data = EdinburghDataModule(str(tiny_corpus), str(tmp_path / "cache"), val_speakers=1, segment_frames=8)
    data.prepare_data()
    data.setup("fit")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    log_corpus(client, run_id, "voicebank", data)
    inputs = client.get_run(run_id).inputs.dataset_inputs
    by_context = {i.tags[0].value: i.dataset for i in inputs}
    assert sorted(by_context) == ["test", "training", "validation"]
    assert {d.name for d in by_context.values()} == {"voicebank"}, "no manifest: no version in the name"
    assert len({d.digest for d in by_context.values()}) == 3, "each split has its own fingerprint"
    train, val, test = (json.loads(by_context[c].profile) for c in ("training", "validation", "test"))
    assert (train["utterances"], val["utterances"], test["utterances"]) == (8, 4, 2)
    assert (train["speakers"], val["speakers"]) == (2, 1) and test["snrs"] == [2.5, 17.5]
    assert json.loads(by_context["test"].source) == {"uri": str(tiny_corpus.resolve()), "split": "test"}
    data.train_cache = None  # a test-only corpus: its one split
    second = client.create_run(client.get_experiment_by_name("e").experiment_id).info.run_id
    log_corpus(client, second, "voicebank", data)
    (only,) = client.get_run(second).inputs.dataset_inputs
    assert only.tags[0].value == "test" and only.dataset.digest == by_context["test"].digest
    (tiny_corpus / "demo_manifest.json").write_text(json.dumps({"generator": 6}))
    assert corpus_version(tiny_corpus) == "v6"


def test_a_job_shorter_than_one_sampling_interval_still_logs_system_metrics(tmp_path: Path) -> None:
    """MLflow's monitor alone logs nothing for a run that ends inside its first interval (a CI run lost
    `system/cpu_utilization_percentage` that way on a one-step job)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    with system_metrics(run_id, uri, interval=60, resuming=False):
        sum(range(10**6))
    metrics = client.get_run(run_id).data.metrics
    assert metrics["system/cpu_utilization_percentage"] >= 0.0
    assert metrics["system/system_memory_usage_megabytes"] > 0.0
    with system_metrics(run_id, uri, interval=60, resuming=True):
        pass
    history = client.get_metric_history(run_id, "system/system_memory_usage_megabytes")
    assert sorted(m.step for m in history) == [0, 1], "a resumed run goes on from the next step"
