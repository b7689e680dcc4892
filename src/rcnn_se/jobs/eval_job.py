"""The job of `python eval.py` and `rcnn-se evaluate` (rcnn_se.eval_cli): score a trained model on a
corpus's test split, without training.

    python eval.py run_id=<training run> data=voicebank data.root=/data/testset_only
    python eval.py ckpt_path=outputs/train/runs/<time>/checkpoints/last.ckpt

The checkpoint comes from a file or from the training run that logged it. The result is an MLflow run of
its own (tag `rcnn_se.kind=evaluation`, so the paper tables, which count training jobs, never count it
twice), nested under the training run (`mlflow.parentRunId`) when the store holds it, and naming it
(`rcnn_se.evaluates`); the training run itself gets no new metric and no epoch. Under another logger
(`logger=csv`) the scores go to that logger's folder inside the evaluation's own, and only `ckpt_path=` can
name the model. The config is train.py's (the same `evaluate` and `realcheck` blocks), and so is the
scoring: the training job's own test sets and closing table (`score_sets.score_every_set`), on features
computed with the checkpoint's STFT settings, so the numbers compare.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from rcnn_se.errors import ConfigError

if TYPE_CHECKING:
    from rcnn_se.jobs.job_logs import JobLog

log = logging.getLogger(__name__)


def check_request(cfg: DictConfig) -> None:
    """eval.py's own rules across its keys, checked with the config (rcnn_se.config.early) before torch and
    MLflow load."""
    from rcnn_se.tracking.mlflow_runs import mlflow_settings

    if bool(cfg.get("ckpt_path")) == bool(cfg.get("run_id")):
        raise ConfigError("give exactly one of ckpt_path=<file> or run_id=<MLflow run of train.py>")
    if cfg.get("run_id") and mlflow_settings(cfg.logger) is None:
        raise ConfigError(
            f"run_id={cfg.run_id}: needs logger=mlflow to read its checkpoint; or give ckpt_path=<file>"
        )
    if cfg.get("ckpt_path") and not Path(str(cfg.ckpt_path)).expanduser().is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: file not found")


def checkpoint_and_run(cfg: DictConfig, folder: Path) -> tuple[Path, str | None]:
    """(checkpoint file, training run id or None). A file's run is read from its job folder's
    `mlflow_run.json`, when the file sits in `<job>/checkpoints/` as training leaves it."""
    from rcnn_se.deploy.enhance import checkpoint_from_run
    from rcnn_se.tracking import mlflow_runs

    ckpt_path, run_id = cfg.get("ckpt_path"), cfg.get("run_id")
    if run_id:
        uri = mlflow_runs.mlflow_settings(cfg.logger).tracking_uri
        return checkpoint_from_run(str(run_id), uri, folder), str(run_id)
    path = Path(str(ckpt_path)).expanduser().resolve()  # check_request found the file
    return path, mlflow_runs.read_run_file(path.parent.parent / mlflow_runs.JOB_FILE)


def model_name(hparams: dict) -> str:
    """The model group's choice the checkpoint was trained as; checkpoints written before it was kept are
    the paper's two networks, told apart by their skip connection."""
    if hparams.get("model_name"):
        return str(hparams["model_name"])
    config = hparams.get("model_config") or {}
    return "rcnn" if config.get("skip") else "cnn"


def linked_run(cfg: DictConfig, trained_by: str | None) -> str | None:
    """The training run to nest the evaluation under: the one `run_id` names, or the one a checkpoint's job
    folder names when the store the evaluation goes to holds it. A checkpoint evaluated into another store
    (`paths.mlruns_dir=...`, another tracking URI) is scored all the same, unlinked, with one warning."""
    from rcnn_se.tracking.mlflow_runs import mlflow_settings
    from rcnn_se.tracking.store import StoreError, get_run

    settings = mlflow_settings(cfg.logger)
    if trained_by is None or cfg.get("run_id") or settings is None:
        return trained_by
    try:
        get_run(settings.tracking_uri, trained_by)
    except StoreError as exc:
        log.warning("could not link this evaluation to its training run, so it stands alone: %s", exc)
        return None
    return trained_by


def evaluate_checkpoint(cfg: DictConfig) -> float | None:
    """Score the checkpoint on `cfg.data`'s test split (and the real-speech check's sets, as `realcheck`
    asks) in an evaluation run, ending with the score table a training job prints; returns the test
    PESQ-WB. The config was checked first (rcnn_se.config.early: `check_config`, `check_request`)."""
    if cfg.get("run_id"):  # an unknown run is answered before torch and Lightning load
        from rcnn_se.tracking.mlflow_runs import mlflow_settings
        from rcnn_se.tracking.store import get_run

        get_run(mlflow_settings(cfg.logger).tracking_uri, str(cfg.run_id))
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    from rcnn_se.jobs.resume import save_job_config
    from rcnn_se.jobs.score_sets import JobScoring, score_every_set
    from rcnn_se.metrics.pool import MetricPool
    from rcnn_se.tracking import mlflow_runs
    from rcnn_se.training.system import EnhancementSystem

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    save_job_config(cfg, HydraConfig.instance().cfg, out_dir)  # Hydra leaves .hydra/ to the job
    ckpt, trained_by = checkpoint_and_run(cfg, out_dir / "checkpoint")
    system = EnhancementSystem.from_checkpoint(ckpt)
    parent = linked_run(cfg, trained_by)
    datamodule = instantiate(cfg.data, stft=system.stft_config.as_dict())
    cache = datamodule.prepare_test()
    name = model_name(system.hparams)
    choices = dict(hydra_cfg.runtime.choices)
    tags = {
        "rcnn_se.kind": "evaluation",
        "rcnn_se.evaluates": trained_by or "unknown (no mlflow_run.json in the checkpoint's job folder)",
        "rcnn_se.checkpoint": str(ckpt),
        "rcnn_se.model": name,
        "rcnn_se.data": str(choices.get("data")),
    }
    run_name = f"eval {name} on {choices.get('data')}"
    with evaluation_log(cfg, out_dir, run_name, tags, parent) as record:
        params = mlflow_runs.config_params(cfg, choices)
        params |= mlflow_runs.flatten({"checkpoint": dict(system.hparams)})
        params |= {k: str(v) for k, v in datamodule_summary(datamodule).items()}
        record.log_params(params)
        record.log_metrics(system.size_summary())
        with MetricPool(cfg.evaluate.workers, full=cfg.evaluate.full) as pool:
            scored = score_every_set(JobScoring(cfg, system, record, out_dir, name, pool), cache)
        log.info("evaluation of %s (trained by %s): %s", ckpt, trained_by, record.where())
    return scored["test"].get("test/pesq_wb")


@contextmanager
def evaluation_log(
    cfg: DictConfig, out_dir: Path, run_name: str, tags: dict[str, str], parent: str | None
) -> Iterator[JobLog]:
    """An MLflow run nested under the training run `parent` (when linked), or, under another logger, that
    logger's folder in the evaluation's own, with its `job_status.json` (`rcnn_se.evaluates` is then a tag
    only)."""
    from rcnn_se.jobs.job_logs import LoggerJob, MlflowRunLog, other_loggers
    from rcnn_se.tracking import mlflow_runs

    settings = mlflow_runs.mlflow_settings(cfg.logger)
    if settings is None:
        with LoggerJob(cfg, out_dir).open(run_name, tags) as record:
            yield record
        return
    client = mlflow_runs.client_for(settings.tracking_uri)
    experiment_id = mlflow_runs.ensure_experiment(
        client, settings.experiment_name, settings.artifact_location
    )
    opened = mlflow_runs.job_run(client, experiment_id, run_name=run_name, parent_run_id=parent, tags=tags)
    with opened as run_id:
        yield MlflowRunLog(client, run_id, experiment_id, settings, others=other_loggers(cfg, out_dir))


def datamodule_summary(datamodule) -> dict[str, object]:
    return {
        "data.n_test_utterances": len(datamodule.test_cache.items),
        "data.file_sample_rate": " ".join(str(r) for r in datamodule.file_rates),
        "data.n_odd_rate_pairs": datamodule.n_odd_rate_pairs,
    }
