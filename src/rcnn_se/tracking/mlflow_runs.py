"""MLflow bookkeeping: the store, one run per Hydra job, one parent run per sweep.

MLflow 3.17 refuses the plain `./mlruns` file store, so the default store is SQLite with artifacts in a folder
beside it; an `http://` tracking URI (a shared `mlflow server`) works the same way. The sweep's parent run
(rcnn_se.jobs.sweep_parent) leaves its id in the sweep folder (`PARENT_FILE`), where every job finds it.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rcnn_se.tracking import status

PARENT_FILE = "mlflow_parent_run.json"
MLFLOW_LOGGER = "rcnn_se.tracking.mlflow_logger.mlflow_logger"
JOB_FILE = "mlflow_run.json"
MAX_PARAM_LENGTH = 6000
BATCH = 100


def is_mlflow_logger(logger_cfg: DictConfig) -> bool:
    """Whether a logger entry is the project's MLflow one: only with it does a job open a run of its own
    (tags, sweep parent, status, resume; rcnn_se.jobs.job_logs). Another logger, Lightning's MLFlowLogger
    named directly among them, is driven through Lightning's logger API alone."""
    return logger_cfg.get("_target_") == MLFLOW_LOGGER


def logger_entries(loggers: DictConfig | None) -> dict[str, DictConfig]:
    """The `logger` group's loggers by name, as lightning-hydra-template keeps them (`logger.mlflow`,
    `logger.csv`; `logger=mlflow_csv` has both). A config of the earlier one-logger form (a `_target_` at
    the top of `logger`, as job folders written before 2026-12-08 hold) is that one logger."""
    if not loggers:
        return {}
    if "_target_" in loggers:
        return {"logger": loggers}
    return {name: entry for name, entry in loggers.items() if entry is not None}


def mlflow_settings(loggers: DictConfig | None) -> DictConfig | None:
    """The project's MLflow logger among the `logger` group's loggers (its store, experiment), or None."""
    return next((e for e in logger_entries(loggers).values() if is_mlflow_logger(e)), None)


def other_loggers(loggers: DictConfig | None) -> list[DictConfig]:
    """The `logger` group's loggers that are not the project's MLflow one (CSV, TensorBoard, ...)."""
    return [e for e in logger_entries(loggers).values() if not is_mlflow_logger(e)]


def client_for(tracking_uri: str):
    """An MlflowClient for the URI, opened safely (rcnn_se.tracking.store: a locked SQLite set-up, a server
    that must answer)."""
    from rcnn_se.tracking.store import open_client

    return open_client(tracking_uri)


# Declares the experiment a model-training one. UIs that read it open their training view; 3.17.2's own UI
# lets its per-browser GenAI / Model training switch decide instead, so the links we print ask for that view.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    """The experiment's id, created if missing; either way it carries `EXPERIMENT_KIND` (experiments made
    before the tag existed get it on their next run)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        for key, value in EXPERIMENT_KIND.items():
            if found.tags.get(key) != value:
                client.set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id
    remote = client.tracking_uri.startswith(("http://", "https://"))
    location = None if remote or artifact_location is None else Path(artifact_location).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)
    except Exception:  # created by a concurrent job between our lookup and our create
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {'model.channels': '54', ...}, the form MLflow params and the tables use."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def chosen_groups(choices: Mapping[str, str | None] | None) -> dict[str, str]:
    """The config groups a user picks (`model`, `data`, ...) and the option picked: Hydra's own groups and
    schema blocks placed at a key (`demo_corpus@data.demo`, whose values are params already) left out."""
    return {
        group: str(choice)
        for group, choice in (choices or {}).items()
        if not group.startswith("hydra") and "@" not in group and choice is not None
    }


def config_params(cfg: DictConfig, choices: Mapping[str, str | None] | None = None) -> dict[str, str]:
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    container.pop("module", None)  # its keys only wire in groups and knobs that are logged as themselves
    params = flatten(container)
    params.update({f"choice.{group}": choice for group, choice in chosen_groups(choices).items()})
    return params


def log_params(client, run_id: str, params: Mapping[str, str]) -> None:
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), BATCH):
        client.log_batch(run_id, params=items[start : start + BATCH])


def log_metrics(client, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
    for start in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[start : start + 1000])


def git_commit(cwd: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def write_run_file(path: Path, run_id: str, tracking_uri: str) -> None:
    path.write_text(json.dumps({"run_id": run_id, "tracking_uri": tracking_uri}))


def read_run_file(path: Path) -> str | None:
    return json.loads(path.read_text())["run_id"] if path.is_file() else None


def read_parent_run_id(sweep_dir: str | Path) -> str | None:
    return read_run_file(Path(sweep_dir) / PARENT_FILE)


@contextmanager
def job_run(
    client,
    experiment_id: str,
    *,
    run_name: str,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> Iterator[str]:
    """A run whose final status tells the truth: FINISHED, FAILED on an exception, KILLED on Ctrl-C or
    SIGTERM; a run left RUNNING by a SIGKILL names its dead owner process (rcnn_se.tracking.status).

    Passing `run_id` re-opens an existing run (resuming an interrupted job keeps its history in one place).
    """
    all_tags = {"host": socket.gethostname(), **(tags or {}), status.OWNER_TAG: status.owner()}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    if run_id is None:
        run_id = client.create_run(experiment_id, run_name=run_name, tags=all_tags).info.run_id
    else:
        client.update_run(run_id, status="RUNNING")
        status.mark_owner(client, run_id)
    try:
        with status.signals_as_interrupt():
            yield run_id
    except KeyboardInterrupt as exc:
        client.set_terminated(run_id, status="KILLED")
        raise status.interruption(exc, f"MLflow run {run_id} ended KILLED") from None
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
