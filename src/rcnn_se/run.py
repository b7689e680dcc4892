"""One Hydra job: data, system and trainer from the config, an MLflow run around all of it, test evaluation.

Everything a table needs later is logged here: the flattened config, the config-group choices, data counts,
model size, losses, test metrics (overall, per SNR, per noise type), per-utterance scores and sample audio.

A job's output folder remembers its MLflow run (`mlflow_run.json`): relaunching the same command into the same
folder (`hydra.run.dir=...`, or `hydra.sweep.dir=...` for a sweep) resumes an interrupted job from
`checkpoints/last.ckpt` into the same run, and skips a job whose run already finished.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rcnn_se import resume, run_metadata, tracking
from rcnn_se.checkpoints import load_checkpoint
from rcnn_se.console import job_report
from rcnn_se.metric_pool import MetricPool
from rcnn_se.quiet import silence_known_noise
from rcnn_se.run_scoring import realcheck_cache, test
from rcnn_se.system import EnhancementSystem
from rcnn_se.validate import check_config

log = logging.getLogger(__name__)
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def is_worker_rank() -> bool:
    """True in the extra processes of a multi-process (DDP) job, which train but must not track or test.

    Lightning's DDP launcher re-runs this script once per extra device with these variables set; SLURM sets
    SLURM_PROCID per task.
    """
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in RANK_VARIABLES)


def build_system(cfg: DictConfig) -> EnhancementSystem:
    scheduler = cfg.get("scheduler")
    return EnhancementSystem(
        instantiate(cfg.model),
        instantiate(cfg.optimizer),
        compress=cfg.compress,
        model_config=OmegaConf.to_container(cfg.model, resolve=True),
        stft=OmegaConf.to_container(cfg.data.stft, resolve=True),
        gain_floor_db=cfg.get("gain_floor_db"),
        gain_ceiling_db=cfg.get("gain_ceiling_db"),
        underestimate_weight=float(cfg.get("underestimate_weight", 1.0)),
        scheduler=dict(instantiate(scheduler)) if scheduler and scheduler.get("scheduler") else None,
    )


def mlflow_logger(cfg: DictConfig, run_id: str | None):
    """Lightning's MLflow logger attached to our run; it writes from rank 0 only."""
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger(
        experiment_name=cfg.logger.experiment_name, tracking_uri=cfg.logger.tracking_uri, run_id=run_id
    )


def build_trainer(cfg: DictConfig, out_dir: Path, logger) -> L.Trainer:
    """The trainer from its config group; a `callbacks` entry set to null is switched off."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    return instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=str(out_dir))


def fit(
    cfg: DictConfig, system: EnhancementSystem, datamodule, run_id: str, out_dir: Path, resume_from
) -> None:
    """Train, then load the best checkpoint (by validation loss) into `system` and log it, as a file and as
    an MLflow model (registered when `logger.register_as` names it)."""
    trainer = build_trainer(cfg, out_dir, mlflow_logger(cfg, run_id))
    start = time.perf_counter()
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    except SystemExit as exc:
        # Lightning turns Ctrl-C (and SIGTERM, rcnn_se.status) into a graceful stop and `sys.exit(1)`: an
        # interruption, which the run must record as KILLED. Other exits pass as they are (submitit's
        # requeue on a time-out exits with -1 and must reach submitit).
        if trainer.interrupted and exc.code == 1:
            raise KeyboardInterrupt from None
        raise
    client = tracking.client_for(cfg.logger.tracking_uri)
    done = {"train/epochs_trained": trainer.current_epoch, "train/steps": trainer.global_step}
    tracking.log_metrics(client, run_id, done | {"train/fit_seconds": time.perf_counter() - start})
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and trainer.checkpoint_callback.best_model_score is not None:  # what optimized_metric reads
        score = float(trainer.checkpoint_callback.best_model_score)
        tracking.log_metrics(client, run_id, {f"{trainer.checkpoint_callback.monitor}_best": score})
    if best:
        system.load_state_dict(load_checkpoint(best)["state_dict"])
        client.log_artifact(run_id, best, artifact_path="checkpoints")
        client.set_tag(run_id, "rcnn_se.checkpoint", Path(best).name)
        from rcnn_se.pyfunc_model import log_enhancer

        example = (datamodule.test_cache.wave(0, "noisy"), datamodule.test_cache.stft.sample_rate)
        log_enhancer(run_id, cfg.logger.tracking_uri, system, example, cfg.logger.get("register_as"))


def prepare(cfg: DictConfig):
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule, build_system(cfg)


def job_tags(cfg: DictConfig, choices: dict, overrides: str, out_dir: Path) -> dict[str, str]:
    commit = run_metadata.code_commit()
    return run_metadata.source_tags("train.py", commit) | {
        "rcnn_se.kind": "job",
        "rcnn_se.model": str(choices.get("model")),
        "rcnn_se.data": str(choices.get("data")),
        "rcnn_se.experiment": str(choices.get("experiment")),
        "rcnn_se.overrides": overrides,
        "rcnn_se.output_dir": str(out_dir),
    }


def run(cfg: DictConfig) -> float | None:
    """Run one job and return the metric a Hydra sweeper optimises (`optimized_metric`, a `val/` metric
    read back from the job's MLflow run; None for a model that does not train)."""
    silence_known_noise()
    check_config(cfg)  # train.py has checked already; run() may be called on its own
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    previous = tracking.read_run_file(out_dir / tracking.JOB_FILE)
    resume_from = resume.resume_checkpoint(cfg, out_dir, previous is not None)
    if is_worker_rank():  # rank 0 has written the run file before it launched this process
        datamodule, system = prepare(cfg)
        build_trainer(cfg, out_dir, mlflow_logger(cfg, previous)).fit(
            system, datamodule, ckpt_path=resume_from, weights_only=True
        )
        return None

    resume.hold_folder(out_dir)
    choices = dict(hydra_cfg.runtime.choices)
    resume.check_same_job(cfg, out_dir, choices=choices)  # before the store: a refusal changes nothing
    client = tracking.client_for(cfg.logger.tracking_uri)
    metric = cfg.get("optimized_metric")
    if previous is not None and client.get_run(previous).info.status == "FINISHED":
        resume.check_same_job(cfg, out_dir, growable=(), choices=choices)
        log.info("%s already holds the finished MLflow run %s: nothing to do", out_dir, previous)
        return client.get_run(previous).data.metrics.get(metric) if metric else None
    resume.save_job_config(cfg, HydraConfig.instance().cfg, out_dir)
    experiment_id = tracking.ensure_experiment(
        client, cfg.logger.experiment_name, cfg.logger.artifact_location
    )
    parent = tracking.read_parent_run_id(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None
    overrides = " ".join(hydra_cfg.overrides.task)
    run_name = run_metadata.job_run_name(str(choices.get("model")), list(hydra_cfg.overrides.task))
    tags = job_tags(cfg, choices, overrides, out_dir)
    with tracking.job_run(
        client, experiment_id, run_name=run_name, parent_run_id=parent, tags=tags, run_id=previous
    ) as run_id:
        tracking.write_run_file(out_dir / tracking.JOB_FILE, run_id, cfg.logger.tracking_uri)
        log.info(
            "MLflow run %s in experiment %r of %s",
            run_id,
            cfg.logger.experiment_name,
            cfg.logger.tracking_uri,
        )
        if previous is None:
            tracking.log_params(client, run_id, tracking.config_params(cfg, choices))
        else:
            log.info("resuming MLflow run %s from %s", run_id, resume_from or "the start (no checkpoint yet)")
        if (out_dir / ".hydra").is_dir():
            client.log_artifacts(run_id, str(out_dir / ".hydra"), artifact_path="config")
        # Started now so its workers are ready by evaluation time; a bad `evaluate.workers` fails here.
        with (
            MetricPool(cfg.evaluate.workers, full=cfg.evaluate.full) as pool,
            run_metadata.system_metrics(
                run_id, cfg.logger.tracking_uri, cfg.logger.system_metrics_interval, previous is not None
            ),
        ):
            datamodule, system = prepare(cfg)
            if previous is None:
                tracking.log_params(client, run_id, {k: str(v) for k, v in datamodule.summary.items()})
                run_metadata.log_corpus(client, run_id, str(choices.get("data")), datamodule)
            tracking.log_metrics(client, run_id, system.size_summary())
            if system.trainable:
                fit(cfg, system, datamodule, run_id, out_dir, resume_from)
            model = str(choices.get("model"))
            summary, noisy = test(cfg, system, datamodule.test_cache, run_id, out_dir, model, pool)
            scored, references = {"test": summary}, {"test": noisy}
            checks = realcheck_cache(cfg, datamodule.stft) if cfg.realcheck.enabled else None
            if checks is not None:
                scored["realcheck"], references["realcheck"] = test(
                    cfg, system, checks, run_id, out_dir, model, pool, "realcheck"
                )
            client.set_tag(run_id, "rcnn_se.realcheck", "scored" if checks is not None else "skipped")
            report = job_report(scored, run_id, cfg.logger.tracking_uri, experiment_id, references, model)
            log.info("scores of %s against the noisy input:\n%s", model, report)
    return client.get_run(run_id).data.metrics.get(metric) if metric else None
