"""A real `mlflow server` on loopback: logging through HTTP works as with the local SQLite store."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from test_train_e2e import TINY, train


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    store = tmp_path / "server"
    store.mkdir()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
           "--artifacts-destination", str(store / "art"),
           "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start: {proc.stderr.read()[-3000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_job_logs_through_http_server(mlflow_server: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    train(work, f"logger.tracking_uri={mlflow_server}", *TINY)
    assert not (work / "mlruns").exists(), "nothing may go to the local store when a server is configured"
    client = MlflowClient(tracking_uri=mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("rcnn_se").experiment_id])
    assert run.info.status == "FINISHED" and "test/pesq_wb" in run.data.metrics
    assert run.data.params["logger.tracking_uri"] == mlflow_server
    assert {"config", "evaluation", "checkpoints"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    local = client.download_artifacts(run.info.run_id, "evaluation", str(tmp_path))
    assert (Path(local) / "test_utterances.csv").read_text().startswith("uid,")
