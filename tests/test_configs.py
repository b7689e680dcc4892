"""Every experiment and model config composes and instantiates: data, model, optimizer, scheduler, trainer.

A typo in a `_target_`, an interpolation to a key that moved, or a sweep value no config accepts fails here,
in seconds, instead of hours into a sweep. Each experiment is composed once per point of its own sweep grid.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from helpers.configs import CONF, EXPERIMENTS, composed, sweep_points
from rcnn_se.data.datamodule import EdinburghDataModule
from rcnn_se.jobs.train_job import build_system, build_trainer
from rcnn_se.tracking import mlflow_runs
from rcnn_se.training.system import build_scheduler

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
LOGGERS = sorted(p.stem for p in (CONF / "logger").glob("*.yaml"))
CPU_TRAINERS = ("cpu", "debug", "default", "ddp")


def check_instantiates(cfg: DictConfig, tmp_path: Path) -> None:
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, EdinburghDataModule)
    system = build_system(cfg)
    features = torch.rand(2, 1, cfg.data.stft.n_fft // 2 + 1, 16)
    out = system.enhancer()(features)
    assert out.shape == features.shape and torch.isfinite(out).all()
    if system.trainable:
        optimizer = system.optimizer_factory(params=system.parameters())
        assert isinstance(optimizer, torch.optim.Optimizer)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(cfg.optimizer.lr)
        if system.scheduler_config:
            optimizer.step()
            scheduler = build_scheduler(system.scheduler_config["scheduler"], optimizer, total_steps=10)
            scheduler.step(*([1.0] if system.scheduler_config.get("monitor") else []))
    trainer = build_trainer(cfg, tmp_path / "out", logger=False)
    assert isinstance(trainer, L.Trainer) and trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_sweep_point_instantiates(experiment: str, tmp_path: Path) -> None:
    points = sweep_points(experiment, tmp_path)
    assert points, f"experiment={experiment} sweeps nothing"
    for overrides in points:
        cfg = composed(overrides, tmp_path)
        assert cfg.task_name == experiment, f"{overrides}: task_name {cfg.task_name}"
        check_instantiates(cfg, tmp_path)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_instantiates(model: str, tmp_path: Path) -> None:
    cfg = composed([f"model={model}"], tmp_path)
    check_instantiates(cfg, tmp_path)
    baseline = "Baseline" in cfg.model._target_
    assert baseline == (cfg.gain_floor_db is None), "baselines run without the network's gain bounds"


@pytest.mark.parametrize("trainer", CPU_TRAINERS)
@pytest.mark.parametrize("scheduler", sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml")))
def test_trainers_and_schedulers_instantiate(trainer: str, scheduler: str, tmp_path: Path) -> None:
    cfg = composed([f"trainer={trainer}", f"scheduler={scheduler}"], tmp_path)
    check_instantiates(cfg, tmp_path)


@pytest.mark.parametrize("logger", LOGGERS)
def test_every_logger_instantiates_and_reaches_the_trainer(logger: str, tmp_path: Path) -> None:
    """Each logger config builds a Lightning logger the trainer takes. The MLflow one writes into the run
    the job opened (jobs/train_job.py passes its `run_id`); another logger leaves MLflow's store alone."""
    from lightning.pytorch.loggers import Logger

    cfg = composed([f"logger={logger}"], tmp_path)
    extra = {}
    if mlflow_runs.is_mlflow_logger(cfg.logger):
        client = mlflow_runs.client_for(cfg.logger.tracking_uri)
        experiment = client.create_experiment("configs")
        extra["run_id"] = client.create_run(experiment).info.run_id
    built = instantiate(cfg.logger, **extra)
    assert isinstance(built, Logger)
    trainer = build_trainer(cfg, tmp_path / "out", logger=built)
    assert trainer.logger is built
    if extra:
        assert built.run_id == extra["run_id"] and built.experiment_id == experiment
    else:
        assert not (tmp_path / "mlruns").exists()


def test_csv_logger_writes_into_the_job_folder_and_mlflow_is_the_default(tmp_path: Path) -> None:
    default = composed([], tmp_path)
    assert mlflow_runs.is_mlflow_logger(default.logger) and default.hydra.runtime.choices.logger == "mlflow"
    assert default.logger.tracking_uri == f"sqlite:///{(tmp_path / 'mlruns').resolve() / 'mlflow.db'}"
    cfg = composed(["logger=csv"], tmp_path)
    assert not mlflow_runs.is_mlflow_logger(cfg.logger) and "tracking_uri" not in cfg.logger
    built = instantiate(cfg.logger)
    assert Path(built.log_dir) == tmp_path / "out" / "csv" / "version_0"


def test_voicebank_data_needs_a_root_and_takes_one(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"data.root is not set"):
        instantiate(composed(["data=voicebank"], tmp_path).data)
    cfg = composed(["data=voicebank", f"data.root={tmp_path / 'DS_10283_2791'}"], tmp_path)
    check_instantiates(cfg, tmp_path)
    assert cfg.data.val_speakers == "auto" and cfg.data.source_sample_rate is None  # derived from the files


def test_multirun_flag_moves_before_the_overrides() -> None:
    """The docs' `train.py experiment=paper_table1 -m seed=1,2,3` reaches Hydra with `-m` first."""
    from rcnn_se.config import multirun_flag_first

    assert multirun_flag_first(["experiment=paper_table1", "-m", "seed=1,2,3"]) == [
        "-m",
        "experiment=paper_table1",
        "seed=1,2,3",
    ]
    assert multirun_flag_first(["model=cnn", "--multirun"]) == ["--multirun", "model=cnn"]
    assert multirun_flag_first(["model=cnn", "seed=2"]) == ["model=cnn", "seed=2"]
