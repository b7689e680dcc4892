"""Where the project's MLflow store is: one rule for every entry point, whatever folder it starts in.

Training (through the Hydra config's `tracking_uri` resolver), `rcnn-se enhance --run-id`, `rcnn-se
paper-tables` and `eval.py` all read this module, so a run logged by one is found by the others. The rule:
`RCNN_SE_TRACKING_URI` when set, else the SQLite store under the project folder (`RCNN_SE_ROOT`, or the
checkout this package was installed from) — never the current folder, where a stray `mlruns/` would hide
the real store. Readers open a store with `open_store`, which refuses to create one: MLflow's SQLite
backend silently creates an empty database on first contact, and an empty store then says "run not found"
about a run that exists elsewhere.

Kept free of heavy imports (MLflow is loaded only inside `open_store`), so config resolvers can use it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_URI = "RCNN_SE_TRACKING_URI"
ENV_ROOT = "RCNN_SE_ROOT"
SQLITE = "sqlite:///"


class StoreError(ValueError):
    """A store or run that cannot be found; the message says where it looked and how to point elsewhere."""


def project_root() -> Path:
    """`RCNN_SE_ROOT`, else the checkout holding this package (it has `conf/` beside `src/`), else cwd."""
    if os.environ.get(ENV_ROOT):
        return Path(os.environ[ENV_ROOT]).resolve()
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "conf").is_dir() else Path.cwd().resolve()


def default_tracking_uri(mlruns_dir: str | Path | None = None) -> str:
    """`RCNN_SE_TRACKING_URI`, else `sqlite:///<mlruns_dir>/mlflow.db` (default `<project root>/mlruns`)."""
    if os.environ.get(ENV_URI):
        return os.environ[ENV_URI]
    folder = Path(mlruns_dir) if mlruns_dir is not None else project_root() / "mlruns"
    return f"{SQLITE}{folder.resolve() / 'mlflow.db'}"


def where(uri: str) -> str:
    """How a message names the store and says how to choose another."""
    how = f"{ENV_URI} is set" if os.environ.get(ENV_URI) == uri else f"set {ENV_URI} or --tracking-uri"
    return f"{uri} ({how})"


def open_store(uri: str):
    """An MlflowClient on an existing store; a missing SQLite file is an error, never a new empty store."""
    if uri.startswith(SQLITE) and not Path(uri.removeprefix(SQLITE)).is_file():
        raise StoreError(f"no MLflow store at {where(uri)}")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def get_run(uri: str, run_id: str):
    """The run from an existing store, or an error naming the store searched."""
    from mlflow.exceptions import MlflowException

    client = open_store(uri)
    try:
        return client, client.get_run(run_id)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            raise StoreError(f"run {run_id} not found in the MLflow store at {where(uri)}") from None
        raise StoreError(f"run {run_id}: cannot be read from {where(uri)} ({exc.message})") from None
