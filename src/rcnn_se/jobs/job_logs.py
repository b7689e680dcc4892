"""Where a job's params, metrics, files and tags go: the loggers the `logger` config group names, by name
(`logger.mlflow`, `logger.csv`): its MLflow run (`logger=mlflow`), other Lightning loggers (`logger=csv`),
or both side by side (`logger=mlflow_csv`).

The job writes through one interface (`JobLog`), so it trains, scores and reports the same way whatever the
logger. Only the MLflow run has: a run found again on a relaunch and closed with its true status, nested
under its sweep's parent run; the job's files (config, checkpoint, per-utterance scores, audio, figures)
copied into the store; the corpus as dataset inputs; system metrics; the logged and registered model.
Another logger gets the params (`log_hyperparams`, tags among them as `tag.<name>`) and the job's metrics
(`log_metrics`, at step 0 as in the MLflow run); the files stay where the job wrote them, in its folder.
Beside an MLflow run they get the same params and metrics and the run keeps the job's status; without one,
the folder's `job_status.json` remembers whether the job finished, so a relaunch resumes or skips it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from hydra.utils import instantiate
from omegaconf import DictConfig

from rcnn_se.errors import ConfigError
from rcnn_se.reporting.console import mlflow_where
from rcnn_se.tracking import mlflow_runs, status

log = logging.getLogger(__name__)
STATUS_FILE = "job_status.json"


class JobLog(Protocol):
    logger: Any  # Lightning's logger, for the trainer (None where nothing trains)
    name: str  # how messages name it: "MLflow run <id>", "the job logged by CSVLogger in <folder>"
    fresh: bool  # holds nothing yet: False for a resumed MLflow run, whose params are logged already

    def log_params(self, params: Mapping[str, str]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float]) -> None: ...
    def log_artifact(self, path: Path, folder: str) -> None: ...
    def log_artifacts(self, path: Path, folder: str) -> None: ...
    def set_tag(self, key: str, value: str) -> None: ...
    def log_corpus(self, name: str, datamodule: Any) -> None: ...
    def log_model(self, system: Any, example: tuple[Any, int]) -> None: ...
    def metric(self, name: str) -> float | None: ...
    def where(self) -> str: ...


class MlflowRunLog:
    """The job's MLflow run, written through the project's own client calls."""

    def __init__(
        self,
        client,
        run_id: str,
        experiment_id: str,
        settings: DictConfig,
        logger=None,
        fresh=True,
        others: LoggerLog | None = None,
    ):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id
        self.settings, self.fresh, self.others = settings, fresh, others
        self.logger = [logger, *others.loggers] if others and logger is not None else logger
        self.name = f"MLflow run {run_id}"

    def log_params(self, params: Mapping[str, str]) -> None:
        mlflow_runs.log_params(self.client, self.run_id, params)
        if self.others:  # a new version folder of theirs on every launch
            self.others.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        mlflow_runs.log_metrics(self.client, self.run_id, metrics)
        if self.others:
            self.others.log_metrics(metrics)

    def log_artifact(self, path: Path, folder: str) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def log_artifacts(self, path: Path, folder: str) -> None:
        self.client.log_artifacts(self.run_id, str(path), artifact_path=folder)

    def set_tag(self, key: str, value: str) -> None:
        self.client.set_tag(self.run_id, key, value)
        if self.others:
            self.others.set_tag(key, value)

    def log_corpus(self, name: str, datamodule: Any) -> None:
        from rcnn_se.tracking.run_metadata import log_corpus

        log_corpus(self.client, self.run_id, name, datamodule)

    def log_model(self, system: Any, example: tuple[Any, int]) -> None:
        """The pyfunc model, registered under `logger.mlflow.register_as` when that names one."""
        from rcnn_se.deploy.pyfunc_model import log_enhancer

        register_as = self.settings.get("register_as")
        log_enhancer(self.run_id, self.settings.tracking_uri, system, example, register_as)

    def metric(self, name: str) -> float | None:
        return self.client.get_run(self.run_id).data.metrics.get(name)

    def where(self) -> str:
        where = mlflow_where(self.run_id, self.settings.tracking_uri, self.experiment_id)
        return f"{where}\n{self.others.names} also logs in {self.others.folder}" if self.others else where


class LoggerLog:
    """Other Lightning loggers (one or several): what MLflow alone keeps (files, corpus inputs, the model) is
    left out, the files being in the job folder already."""

    fresh = True  # a Lightning logger writes each launch into a new version folder of its own

    def __init__(self, loggers: list, out_dir: Path) -> None:
        self.loggers, self.out_dir = loggers, out_dir
        self.logger = loggers[0] if len(loggers) == 1 else loggers  # for the trainer
        self.logged: dict[str, float] = {}
        self.folder = ", ".join(str(getattr(lg, "log_dir", None) or lg.save_dir) for lg in loggers)
        self.names = " and ".join(type(lg).__name__ for lg in loggers)
        self.name = f"the job logged by {self.names} in {self.folder}"

    def log_params(self, params: Mapping[str, str]) -> None:
        for logger in self.loggers:
            logger.log_hyperparams(dict(params))

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        for logger in self.loggers:
            logger.log_metrics(dict(metrics), step=0)
            logger.save()  # now, not after Lightning's next 100 steps: the job may end before
        self.logged.update({key: float(value) for key, value in metrics.items()})

    def log_artifact(self, path: Path, folder: str) -> None:
        """The file stays where the job wrote it."""

    def log_artifacts(self, path: Path, folder: str) -> None:
        """The files stay where the job wrote them."""

    def set_tag(self, key: str, value: str) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.log_params({f"tag.{key}": value for key, value in tags.items()})

    def log_corpus(self, name: str, datamodule: Any) -> None:
        """Dataset inputs are MLflow's; the data counts are among the params."""

    def log_model(self, system: Any, example: tuple[Any, int]) -> None:
        """An MLflow model needs an MLflow run; the best checkpoint in `checkpoints/` is the model here."""

    def metric(self, name: str) -> float | None:
        return self.logged.get(name)

    def where(self) -> str:
        return (
            f"{self.names} logs in {self.folder} (no MLflow store); checkpoints, "
            f"per-utterance scores, audio and figures in {self.out_dir}"
        )

    def finalize(self, state: str) -> None:
        for logger in self.loggers:
            logger.finalize("success" if state == "FINISHED" else "failed")


def built_others(cfg: DictConfig) -> list:
    """The `logger` group's Lightning loggers besides the project's MLflow one, instantiated."""
    return [instantiate(entry) for entry in mlflow_runs.other_loggers(cfg.logger)]


def other_loggers(cfg: DictConfig, out_dir: Path) -> LoggerLog | None:
    """The `logger` group's loggers besides the project's MLflow one, as a log; None when there are none."""
    built = built_others(cfg)
    return LoggerLog(built, out_dir) if built else None


def job_log(cfg: DictConfig, out_dir: Path) -> MlflowJob | LoggerJob:
    """The job's log as its `logger` group says: the project's MLflow run (with any other loggers beside
    it), or other Lightning loggers alone."""
    if not mlflow_runs.logger_entries(cfg.logger):
        raise ConfigError("logger: names no logger (logger=mlflow, logger=csv or logger=mlflow_csv)")
    if mlflow_runs.mlflow_settings(cfg.logger) is not None:
        return MlflowJob(cfg, out_dir)
    return LoggerJob(cfg, out_dir)


class MlflowJob:
    """A job's MLflow run, remembered in its folder (`mlflow_run.json`) so that a relaunch resumes it."""

    def __init__(self, cfg: DictConfig, out_dir: Path) -> None:
        self.cfg, self.out_dir = cfg, out_dir
        self.settings = mlflow_runs.mlflow_settings(cfg.logger)
        self.previous = mlflow_runs.read_run_file(out_dir / mlflow_runs.JOB_FILE)
        self.resuming = self.previous is not None
        self.client = None

    def worker_logger(self):
        """The loggers of a DDP worker rank: rank 0 wrote the run file before it launched this process."""
        mlflow = instantiate(self.settings, run_id=self.previous)
        others = built_others(self.cfg)
        return [mlflow, *others] if others else mlflow

    def finished(self) -> str | None:
        """What the folder holds when its job already ended well; None when there is work to do."""
        self.client = mlflow_runs.client_for(self.settings.tracking_uri)
        if self.previous is None or self.client.get_run(self.previous).info.status != "FINISHED":
            return None
        return f"the finished MLflow run {self.previous}"

    def final_metric(self, name: str) -> float | None:
        return self.client.get_run(self.previous).data.metrics.get(name)

    @contextmanager
    def open(self, run_name: str, tags: Mapping[str, str]) -> Iterator[MlflowRunLog]:
        """The run, created or re-opened, nested under its sweep's run, with system metrics sampled while
        it is open; closed FINISHED, FAILED or KILLED (rcnn_se.tracking.mlflow_runs.job_run)."""
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from rcnn_se.tracking.run_metadata import system_metrics

        hydra_cfg = HydraConfig.get()
        parent = (
            mlflow_runs.read_parent_run_id(hydra_cfg.sweep.dir)
            if hydra_cfg.mode == RunMode.MULTIRUN
            else None
        )
        settings, client = self.settings, self.client
        experiment_id = mlflow_runs.ensure_experiment(
            client, settings.experiment_name, settings.artifact_location
        )
        opened = mlflow_runs.job_run(
            client, experiment_id, run_name=run_name, parent_run_id=parent, tags=tags, run_id=self.previous
        )
        with opened as run_id:
            mlflow_runs.write_run_file(self.out_dir / mlflow_runs.JOB_FILE, run_id, settings.tracking_uri)
            log.info(
                "MLflow run %s in experiment %r of %s",
                run_id,
                settings.experiment_name,
                settings.tracking_uri,
            )
            interval = settings.system_metrics_interval
            with system_metrics(run_id, settings.tracking_uri, interval, self.resuming):
                logger = instantiate(settings, run_id=run_id)
                others = other_loggers(self.cfg, self.out_dir)
                if others:  # what the run was created with, as a log without MLflow keeps it
                    others.set_tags({"run_name": run_name, **tags})
                yield MlflowRunLog(client, run_id, experiment_id, settings, logger, not self.resuming, others)


class LoggerJob:
    """A job logged by another Lightning logger; `job_status.json` in its folder says how it ended (RUNNING
    while it runs) and keeps the job's own metrics, which a sweeper reads back for a finished job."""

    def __init__(self, cfg: DictConfig, out_dir: Path) -> None:
        self.cfg, self.out_dir = cfg, out_dir
        self.status_file = out_dir / STATUS_FILE
        self.resuming = self.status_file.is_file()

    def worker_logger(self):
        built = built_others(self.cfg)
        return built[0] if len(built) == 1 else built

    def state(self) -> dict:
        return json.loads(self.status_file.read_text()) if self.resuming else {}

    def finished(self) -> str | None:
        state = self.state()
        return f"a finished job (logs in {state.get('logs')})" if state.get("status") == "FINISHED" else None

    def final_metric(self, name: str) -> float | None:
        return self.state().get("metrics", {}).get(name)

    @contextmanager
    def open(self, run_name: str, tags: Mapping[str, str]) -> Iterator[LoggerLog]:
        """The logger, its status RUNNING until the job ends FINISHED, FAILED or KILLED (Ctrl-C, SIGTERM)."""
        record = other_loggers(self.cfg, self.out_dir)
        record.set_tags({"run_name": run_name, **tags})
        self.write(record, "RUNNING")
        try:
            with status.signals_as_interrupt():
                yield record
        except KeyboardInterrupt as exc:
            self.end(record, "KILLED")
            raise status.interruption(exc, f"{record.name} ended KILLED") from None
        except BaseException:
            self.end(record, "FAILED")
            raise
        self.end(record, "FINISHED")

    def end(self, record: LoggerLog, state: str) -> None:
        record.finalize(state)
        self.write(record, state)

    def write(self, record: LoggerLog, state: str) -> None:
        text = json.dumps({"status": state, "logs": str(record.folder), "metrics": record.logged}, indent=1)
        self.status_file.write_text(text)
