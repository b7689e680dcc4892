"""`python eval.py` and `rcnn-se evaluate` as a user runs them, on a test-only Edinburgh folder of real wav
files, against a checkpoint trained by a real `train.py` job; and `model=wiener` on the same folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.audio import write_pair_corpus
from helpers.jobs import TINY, evaluate, train
from helpers.store import client_for, project_runs

TEST_ONLY = [("p232_001", "cafe", 2.5), ("p232_002", "bus", 17.5), ("p257_001", "office", 7.5)]


@pytest.mark.slow
def test_eval_scores_a_test_only_corpus_in_a_linked_run(tmp_path: Path) -> None:
    corpus = write_pair_corpus(tmp_path / "testset_only", "test", TEST_ONLY, sr=16000, seconds=1.2)
    train(tmp_path, *TINY)
    client = client_for(tmp_path)
    (trained,) = project_runs(tmp_path)
    before = dict(trained.data.metrics)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = ["data=voicebank", f"data.root={corpus}"]

    done = evaluate(tmp_path, elsewhere, f"run_id={trained.info.run_id}", *data)
    assert done.returncode == 0, done.stderr[-3000:]
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

    both = evaluate(tmp_path, elsewhere, f"run_id={trained.info.run_id}", f"ckpt_path={ckpt}", *data)
    assert both.returncode != 0 and "give exactly one of ckpt_path=<file> or run_id=" in both.stderr
    lost = evaluate(tmp_path, elsewhere, "run_id=" + "0" * 32, *data)
    assert (
        lost.returncode != 0 and f"run {'0' * 32} not found in the MLflow store at sqlite:///" in lost.stderr
    )

    baseline = train(
        tmp_path,
        "model=wiener",
        *data,
        "realcheck.enabled=false",
        "evaluate.workers=0",
        "callbacks.rich_progress_bar=null",
    )
    assert baseline.returncode == 0
    (wiener,) = project_runs(tmp_path, "params.`choice.model` = 'wiener'")
    assert wiener.info.status == "FINISHED" and wiener.data.metrics["test/n_utterances"] == 3
    assert wiener.data.params["data.n_train_utterances"] == "0"
    refused = train(tmp_path, *data, *(o for o in TINY if not o.startswith("data.demo")), check=False)
    assert refused.returncode != 0 and "has no training split (clean_trainset_28spk_wav" in refused.stderr
