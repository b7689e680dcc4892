"""Loopback ports, and a real `mlflow server` on one, for the tests that talk HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def unused_port() -> int:
    """A port nothing listens on (the OS's pick, released again at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_server(store: Path | str, artifacts: Path) -> Iterator[str]:
    """`mlflow server` on loopback over `store`: a SQLite file (created if missing) or a database URI
    (`postgresql://...`); its URL."""
    port = unused_port()
    backend = store if isinstance(store, str) else f"sqlite:///{store}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", backend, "--artifacts-destination", str(artifacts),
           "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # its uvicorn and job runners took over 90 s on a loaded 2-core VM
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.terminate()  # else reading its stderr would wait for a live server forever
                    _, err = proc.communicate(timeout=30)
                    raise RuntimeError(f"mlflow server did not start: {err[-3000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
