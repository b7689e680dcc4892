"""`python eval.py` and `rcnn-se evaluate` on a test-only Edinburgh folder of real wav files, against a
checkpoint trained by a real `train.py` job; and `model=wiener` on the same folder. The jobs run in this
process as the entry points call them (helpers.inprocess); `rcnn-se evaluate` and eval.py's one-line
refusals run as a user runs them, as subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from helpers.audio import write_pair_corpus
from helpers.inprocess import evaluate_in_process, train_in_process
from helpers.jobs import TINY, evaluate
from helpers.store import client_for, project_runs
from rcnn_se.errors import UserError

TEST_ONLY = [("p232_001", "cafe", 2.5), ("p232_002", "bus", 17.5), ("p257_001", "office", 7.5)]


@pytest.mark.slow
def test_eval_scores_a_test_only_corpus_in_a_linked_run(tmp_path: Path) -> None:
    corpus = write_pair_corpus(tmp_path / "testset_only", "test", TEST_ONLY, sr=16000, seconds=1.2)
    train_in_process(tmp_path, *TINY)
    client = client_for(tmp_path)
    (trained,) = project_runs(tmp_path)
    before = dict(trained.data.metrics)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Four utterances of each real-speech check set, as TINY scores them: the sets' full 72 at workers=0
    # took a minute an evaluation.
    data = ["data=voicebank", f"data.root={corpus}", "evaluate.max_utterances=4"]

    evaluate_in_process(tmp_path, elsewhere, f"run_id={trained.info.run_id}", *data)
    ckpt = Path(trained.data.tags["rcnn_se.output_dir"]) / "checkpoints" / "last.ckpt"
    done = evaluate(tmp_path, elsewhere, f"ckpt_path={ckpt}", *data, console=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (elsewhere / "mlruns").exists()

    runs = project_runs(tmp_path, "tags.`rcnn_se.kind` = 'evaluation'")
    assert len(runs) == 2
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == trained.info.run_id
        assert run.data.tags["rcnn_se.evaluates"] == trained.info.run_id
        m = run.data.metrics
        assert m["test/n_utterances"] == 3 and "test/pesq_wb" in m and "test/delta.stoi" in m
        assert not any(k.startswith(("train/", "val/")) for k in m), "an evaluation trains nothing"
        assert (
            run.data.params["data.root"] == str(corpus) and run.data.params["checkpoint.compress"] == "log1p"
        )
    after = client.get_run(trained.info.run_id).data.metrics
    assert after == before, "the training run gets no new metric and no epoch"
    assert "test: 3 utterances" in done.stdout + done.stderr, "eval ends with a training job's score table"

    other = tmp_path / "other_store"  # train.py's keys, and a store that does not hold the training run
    unlinked = [f"ckpt_path={ckpt}", *data, f"paths.mlruns_dir={other}", "realcheck.enabled=false"]
    printed = evaluate_in_process(tmp_path, elsewhere, *unlinked).output
    assert printed.count("could not link this evaluation to its training run") == 1
    store = MlflowClient(f"sqlite:///{other / 'mlflow.db'}")
    (alone,) = store.search_runs([store.get_experiment_by_name("rcnn_se").experiment_id])
    assert "mlflow.parentRunId" not in alone.data.tags and alone.data.tags["rcnn_se.realcheck"] == "skipped"
    assert alone.data.metrics["test/n_utterances"] == 3 and "test: 3 utterances" in printed

    # refusals (eval.py prints them in one line with exit 1: tests/test_checkpoint_refusal.py)
    with pytest.raises(UserError, match=r"give exactly one of ckpt_path=<file> or run_id="):
        evaluate_in_process(tmp_path, elsewhere, f"run_id={trained.info.run_id}", f"ckpt_path={ckpt}", *data)
    with pytest.raises(UserError, match=f"run {'0' * 32} not found in the MLflow store at sqlite:///"):
        evaluate_in_process(tmp_path, elsewhere, "run_id=" + "0" * 32, *data)

    train_in_process(
        tmp_path,
        "model=wiener",
        *data,
        "realcheck.enabled=false",
        "evaluate.workers=0",
        "callbacks.rich_progress_bar=null",
    )
    (wiener,) = project_runs(tmp_path, "params.`choice.model` = 'wiener'")
    assert wiener.info.status == "FINISHED" and wiener.data.metrics["test/n_utterances"] == 3
    assert wiener.data.params["data.n_train_utterances"] == "0"
    with pytest.raises(UserError, match=r"has no training split \(clean_trainset_28spk_wav"):
        train_in_process(tmp_path, *data, *(o for o in TINY if not o.startswith("data.demo")))


def test_a_checkpoint_names_its_model_as_the_training_run_did(tmp_path: Path) -> None:
    """An evaluation names the model by the model group's choice kept in the checkpoint, so a user's own
    family is not reported as `cnn`; checkpoints from before it was kept fall back to the skip connection."""
    import torch

    from conftest import SMALL_MODEL
    from rcnn_se.data.features import StftConfig
    from rcnn_se.jobs.eval_job import model_name
    from rcnn_se.models.spectral_cnn import SpectralCNN
    from rcnn_se.training.system import EnhancementSystem

    def saved(name: str | None) -> Path:
        config = {**SMALL_MODEL, "skip": False}
        network = SpectralCNN(channels=6, kernel_size=3, skip=False)
        system = EnhancementSystem(
            network, compress="log1p", model_config=config, stft=StftConfig().as_dict(), model_name=name
        )
        hparams = {k: v for k, v in system.hparams.items() if name or k != "model_name"}
        path = tmp_path / f"{name}.ckpt"
        torch.save({"state_dict": system.state_dict(), "hyper_parameters": hparams}, path)
        return path

    assert model_name(EnhancementSystem.from_checkpoint(saved("my_family")).hparams) == "my_family"
    assert (
        model_name(EnhancementSystem.from_checkpoint(saved(None)).hparams) == "cnn"
    )  # no skip: the paper's CNN
