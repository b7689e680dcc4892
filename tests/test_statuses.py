"""Statuses and failures as a user meets them, through `python train.py`: a sweep Hydra rejects leaves no
RUNNING parent, and bad values, a dead tracking server and loader errors are one line each, without a
traceback and without a run. (Ctrl-C and SIGTERM, and the resume around a truncated last.ckpt after them:
tests/test_signals.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers.jobs import TINY, train
from helpers.net import unused_port
from helpers.store import project_runs


@pytest.mark.slow
def test_sweep_rejected_by_hydra_leaves_no_running_parent(tmp_path: Path) -> None:
    proc = train(tmp_path, "-m", "model=rcnn,nosuch", *TINY, check=False)
    assert proc.returncode != 0 and "nosuch" in proc.stderr
    runs = project_runs(tmp_path)
    assert runs and {r.info.status for r in runs} == {"FAILED"}
    assert {r.data.tags["rcnn_se.kind"] for r in runs} == {"sweep"}


@pytest.mark.slow
def test_failures_are_one_line_fast_and_leave_no_run(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{unused_port()}"
    start = time.monotonic()
    dead = train(tmp_path, f"logger.mlflow.tracking_uri={uri}", *TINY, check=False)
    assert time.monotonic() - start < 15, "an unreachable tracking server must fail within seconds"
    assert dead.returncode != 0 and "Traceback" not in dead.stderr
    assert f"Error: tracking URI {uri}: no MLflow server answers" in dead.stderr
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in dead.stderr

    bad = train(tmp_path, "dropout=abc", *TINY, check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "Error: dropout='abc': expected a number in [0, 1)" in bad.stderr
    assert not (tmp_path / "mlruns").exists(), "a refused config must not create a run (or a store)"
    runs = tmp_path / "outputs" / "train" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a refused config or server leaves no job folder"

    loader = train(tmp_path, "data.val_speakers=5", *TINY, check=False)
    assert loader.returncode != 0 and "Traceback" not in loader.stderr
    assert "Error: data.val_speakers=5 but the training set has 3 speakers" in loader.stderr
    sweeps = tmp_path / "outputs" / "train" / "multiruns"
    assert not sweeps.exists(), "a single job that fails must not claim a sweep folder"
    full = train(tmp_path, "dropout=abc", *TINY, check=False, env={"HYDRA_FULL_ERROR": "1"})
    assert "Traceback" in full.stderr and "ConfigError: dropout='abc'" in full.stderr
