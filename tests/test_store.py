"""The project's MLflow store is found from any folder, and a reader never creates an empty one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.inprocess import process_kept
from rcnn_se.config.checks import check_optimized_metric
from rcnn_se.data.audio import write_wav
from rcnn_se.deploy.enhance import main as enhance_main
from rcnn_se.tracking import mlflow_runs
from rcnn_se.tracking.store import StoreError, default_tracking_uri, get_run, open_store, project_root

BIN = Path(sys.executable).parent / "rcnn-se"


def test_default_uri_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RCNN_SE_TRACKING_URI", raising=False)
    monkeypatch.delenv("RCNN_SE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)  # never the current folder
    checkout = Path(__file__).resolve().parents[1]
    assert project_root() == checkout
    assert default_tracking_uri() == f"sqlite:///{checkout / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("RCNN_SE_ROOT", str(tmp_path / "proj"))
    assert default_tracking_uri() == f"sqlite:///{tmp_path / 'proj' / 'mlruns' / 'mlflow.db'}"
    assert default_tracking_uri(tmp_path / "m") == f"sqlite:///{tmp_path / 'm' / 'mlflow.db'}"
    monkeypatch.setenv("RCNN_SE_TRACKING_URI", "http://127.0.0.1:5999")
    assert default_tracking_uri() == default_tracking_uri(tmp_path) == "http://127.0.0.1:5999"


def test_missing_store_and_run_say_where_and_create_nothing(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    with pytest.raises(StoreError, match=f"no MLflow store at {missing}"):
        open_store(missing)
    assert not (tmp_path / "nowhere").exists()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow_runs.ensure_experiment(mlflow_runs.client_for(uri), "e", str(tmp_path / "art"))
    with pytest.raises(StoreError, match=f"run 0123abcd not found in the MLflow store at {uri}"):
        get_run(uri, "0123abcd")


@pytest.mark.slow
def test_enhance_run_id_from_another_folder(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    store = tmp_path / "project" / "mlruns"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = mlflow_runs.client_for(uri)
    run = client.create_run(mlflow_runs.ensure_experiment(client, "rcnn_se", str(store / "art"))).info.run_id
    client.log_artifact(run, str(checkpoint), artifact_path="checkpoints")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rng = np.random.default_rng(0)
    write_wav(elsewhere / "x.wav", 0.1 * rng.standard_normal(8000), 16000)
    cmd = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "rcnn_se.cli"]
    env = {k: v for k, v in os.environ.items() if k not in ("RCNN_SE_TRACKING_URI", "RCNN_SE_ROOT")}
    args = ["x.wav", "-o", "out", "--run-id"]
    found = subprocess.run(  # the console script, as a user runs it from another folder
        [*cmd, "enhance", *args, run], cwd=elsewhere, env=env | {"RCNN_SE_TRACKING_URI": uri},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert (elsewhere / "out" / "x_enhanced.wav").is_file()

    def enhance(run_id: str, **extra: str) -> tuple[int, str]:
        """`rcnn-se enhance` from `elsewhere` in this process: its exit status and what it said."""
        with process_kept():
            for name in ("RCNN_SE_TRACKING_URI", "RCNN_SE_ROOT"):
                os.environ.pop(name, None)
            os.environ.update(extra)
            os.chdir(elsewhere)
            try:
                return enhance_main([*args, run_id]), ""
            except SystemExit as exc:  # a message is exit status 1, as Python prints it
                return (1, str(exc.code)) if isinstance(exc.code, str) else (exc.code or 0, "")

    status, said = enhance(run, RCNN_SE_ROOT=str(tmp_path / "project"))  # the project's own store by default
    assert status == 0, said
    status, said = enhance(run, RCNN_SE_ROOT=str(tmp_path / "empty_project"))
    looked = f"sqlite:///{tmp_path / 'empty_project' / 'mlruns' / 'mlflow.db'}"
    assert status == 1 and f"no MLflow store at {looked}" in said
    assert not (elsewhere / "mlruns").exists() and not (tmp_path / "empty_project").exists()
    status, said = enhance("f" * 32, RCNN_SE_TRACKING_URI=uri)
    assert status == 1
    assert f"run {'f' * 32} not found in the MLflow store at {uri}" in said


def test_optimized_metric_must_be_validation() -> None:
    check_optimized_metric("val/loss_best")
    check_optimized_metric(None)
    for bad in ("test/pesq_wb", "realcheck/stoi"):
        with pytest.raises(ValueError, match=f"optimized_metric={bad}: must be a validation metric"):
            check_optimized_metric(bad)
