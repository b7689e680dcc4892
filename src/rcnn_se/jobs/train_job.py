"""One Hydra job: data, system and trainer from the config, the job's log around all of it (its MLflow run,
or the logger the `logger` group names: rcnn_se.jobs.job_logs), test evaluation.

Everything a table needs later is logged here: the flattened config, the config-group choices, data counts,
model size, losses, test metrics (overall, per SNR, per noise type), per-utterance scores and sample audio.

A job's output folder remembers its log (`mlflow_run.json`, or `job_status.json`): relaunching the same
command into the same folder (`hydra.run.dir=...`, or `hydra.sweep.dir=...` for a sweep) resumes an
interrupted job from `checkpoints/last.ckpt` (into the same MLflow run) and skips a job that finished.
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
from omegaconf import DictConfig

from rcnn_se.config.checks import check_config
from rcnn_se.jobs import resume
from rcnn_se.jobs.job_logs import JobLog, job_log
from rcnn_se.jobs.score_sets import JobScoring, score_every_set
from rcnn_se.metrics.pool import MetricPool
from rcnn_se.tracking import mlflow_runs, run_metadata
from rcnn_se.training.checkpoints import load_checkpoint
from rcnn_se.training.quiet import silence_known_noise
from rcnn_se.training.system import EnhancementSystem

log = logging.getLogger(__name__)
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
DEAD_FRACTION = 0.99  # the share of silent output bins above which a trained network counts as dead


def is_worker_rank() -> bool:
    """True in the extra processes of a multi-process (DDP) job, which train but must not track or test.

    Lightning's DDP launcher re-runs this script once per extra device with these variables set; SLURM sets
    SLURM_PROCID per task.
    """
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in RANK_VARIABLES)


def build_trainer(cfg: DictConfig, out_dir: Path, logger) -> L.Trainer:
    """The trainer from its config group; a `callbacks` entry set to null is switched off."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    return instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=str(out_dir))


def fit_model(
    cfg: DictConfig, system: EnhancementSystem, datamodule, record: JobLog, out_dir: Path, resume_from
) -> None:
    """Train, then load the best checkpoint (by validation loss) into `system` and log it, as a file and,
    in an MLflow run, as a model (registered when `logger.mlflow.register_as` names it)."""
    trainer = build_trainer(cfg, out_dir, record.logger)
    start = time.perf_counter()
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    except SystemExit as exc:
        # Lightning turns Ctrl-C (and SIGTERM, rcnn_se.tracking.status) into a graceful stop and
        # `sys.exit(1)`: an interruption, which the run must record as KILLED. Other exits pass as they are
        # (submitit's requeue on a time-out exits with -1 and must reach submitit).
        if trainer.interrupted and exc.code == 1:
            raise KeyboardInterrupt from None
        raise
    done = {"train/epochs_trained": trainer.current_epoch, "train/steps": trainer.global_step}
    record.log_metrics(done | {"train/fit_seconds": time.perf_counter() - start})
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and trainer.checkpoint_callback.best_model_score is not None:  # what optimized_metric reads
        score = float(trainer.checkpoint_callback.best_model_score)
        record.log_metrics({f"{trainer.checkpoint_callback.monitor}_best": score})
    if best:
        system.load_state_dict(load_checkpoint(best)["state_dict"])
        warn_if_dead(system, datamodule, record)
        record.log_artifact(Path(best), "checkpoints")
        record.set_tag("rcnn_se.checkpoint", Path(best).name)
        record.log_model(
            system, (datamodule.test_cache.wave(0, "noisy"), datamodule.test_cache.stft.sample_rate)
        )


def warn_if_dead(system: EnhancementSystem, datamodule, record: JobLog) -> None:
    """Say so when the trained network outputs zero almost everywhere on a validation batch: a run whose
    scores would otherwise pass for a weak model's is then tagged `rcnn_se.dead_network`."""
    batch = next(iter(datamodule.val_dataloader()), None)
    if batch is None:  # no validation data to look at
        return
    silent = system.silent_fraction(batch[0])
    record.log_metrics({"train/silent_output_fraction": silent})
    if silent > DEAD_FRACTION:
        log.warning(
            "the trained network outputs zero in %.1f%% of the bins of a validation batch: it died in "
            "training, and the enhancer only turns the input down to the gain floor (try a lower "
            "learning rate or another seed)",
            100 * silent,
        )
        record.set_tag("rcnn_se.dead_network", "true")


def prepare(cfg: DictConfig, model_name: str | None):
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    # conf/module/enhancement.yaml: the LightningModule from the network, optimizer and scheduler groups
    return datamodule, instantiate(cfg.module, model_name=model_name)


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


def train_and_test(cfg: DictConfig) -> float | None:
    """Run one job and return the metric a Hydra sweeper optimises (`optimized_metric`, a `val/` metric
    read back from the job's log; None for a model that does not train)."""
    silence_known_noise()
    check_config(cfg)  # train.py has checked already; train_and_test() may be called on its own
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    job = job_log(cfg, out_dir)
    resume_from = resume.resume_checkpoint(cfg, out_dir, job.resuming)
    choices = dict(hydra_cfg.runtime.choices)
    if is_worker_rank():  # rank 0 has opened the job's log before it launched this process
        datamodule, system = prepare(cfg, choices.get("model"))
        build_trainer(cfg, out_dir, job.worker_logger()).fit(
            system, datamodule, ckpt_path=resume_from, weights_only=True
        )
        return None

    resume.hold_folder(out_dir)
    resume.check_same_job(cfg, out_dir, choices=choices)  # before the store: a refusal changes nothing
    metric = cfg.get("optimized_metric")
    finished = job.finished()
    if finished is not None:
        resume.check_same_job(cfg, out_dir, growable=(), choices=choices)
        log.info("%s already holds %s: nothing to do", out_dir, finished)
        return job.final_metric(metric) if metric else None
    resume.save_job_config(cfg, HydraConfig.instance().cfg, out_dir)
    overrides = " ".join(hydra_cfg.overrides.task)
    run_name = run_metadata.job_run_name(str(choices.get("model")), list(hydra_cfg.overrides.task))
    tags = job_tags(cfg, choices, overrides, out_dir)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    folder_key = f"hydra.sweep.dir={hydra_cfg.sweep.dir}" if sweep else f"hydra.run.dir={out_dir}"
    with resume.relaunch_hint(folder_key), job.open(run_name, tags) as record:
        if job.resuming:
            log.info("resuming %s from %s", record.name, resume_from or "the start (no checkpoint yet)")
        if record.fresh:
            record.log_params(mlflow_runs.config_params(cfg, choices))
        if (out_dir / ".hydra").is_dir():
            record.log_artifacts(out_dir / ".hydra", "config")
        # Started now so its workers are ready by evaluation time; a bad `evaluate.workers` fails here.
        with MetricPool(cfg.evaluate.workers, full=cfg.evaluate.full) as pool:
            datamodule, system = prepare(cfg, choices.get("model"))
            if record.fresh:
                record.log_params({k: str(v) for k, v in datamodule.summary.items()})
                record.log_params({"trainable": str(system.trainable).lower()})  # read by reporting.setting
                record.log_corpus(str(choices.get("data")), datamodule)
            record.log_metrics(system.size_summary())
            if system.trainable:
                fit_model(cfg, system, datamodule, record, out_dir, resume_from)
            model = str(choices.get("model"))
            score_every_set(JobScoring(cfg, system, record, out_dir, model, pool), datamodule.test_cache)
    return record.metric(metric) if metric else None
