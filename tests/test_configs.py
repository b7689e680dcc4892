"""Every experiment and model config composes and instantiates: data, model, optimizer, scheduler, trainer.

A typo in a `_target_`, an interpolation to a key that moved, or a sweep value no config accepts fails here,
in seconds, instead of hours into a sweep. Each experiment is composed once per point of its own sweep grid.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from helpers.configs import CONF, EXPERIMENTS, composed, sweep_points
from helpers.jobs import train_command
from rcnn_se.config import schema
from rcnn_se.config.checks import check_config, check_values
from rcnn_se.data.datamodule import EdinburghDataModule
from rcnn_se.errors import ConfigError
from rcnn_se.jobs.train_job import build_trainer
from rcnn_se.models.spectral_cnn import ACTIVATIONS
from rcnn_se.tracking import mlflow_runs
from rcnn_se.training.system import build_scheduler

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
LOGGERS = sorted(p.stem for p in (CONF / "logger").glob("*.yaml"))
CPU_TRAINERS = ("cpu", "debug", "default", "ddp")


def check_instantiates(cfg: DictConfig, tmp_path: Path) -> None:
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, EdinburghDataModule)
    system = instantiate(cfg.module)  # conf/module/enhancement.yaml, as a job builds it
    assert system.hparams.model_config == OmegaConf.to_container(cfg.model, resolve=True)
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
    """Each logger config builds Lightning loggers the trainer takes, one per entry of the group. The MLflow
    one writes into the run the job opened (jobs/train_job.py passes its `run_id`); a config without it
    leaves MLflow's store alone."""
    from lightning.pytorch.loggers import Logger

    cfg = composed([f"logger={logger}"], tmp_path)
    entries = mlflow_runs.logger_entries(cfg.logger)
    assert set(entries) == set(logger.split("_")) and set(entries) == set(cfg.logger)
    built, run = [], None
    for entry in entries.values():
        if mlflow_runs.is_mlflow_logger(entry):
            client = mlflow_runs.client_for(entry.tracking_uri)
            experiment = client.create_experiment("configs")
            run = client.create_run(experiment).info.run_id
            built.append(instantiate(entry, run_id=run))
        else:
            built.append(instantiate(entry))
    assert all(isinstance(b, Logger) for b in built)
    trainer = build_trainer(cfg, tmp_path / "out", logger=built)
    assert trainer.loggers == built
    if run:
        (mlflow,) = [b for b in built if getattr(b, "run_id", None)]
        assert mlflow.run_id == run and mlflow.experiment_id == experiment
    else:
        assert not (tmp_path / "mlruns").exists()


def test_csv_logger_writes_into_the_job_folder_and_mlflow_is_the_default(tmp_path: Path) -> None:
    default = composed([], tmp_path)
    assert default.hydra.runtime.choices.logger == "mlflow" and list(default.logger) == ["mlflow"]
    settings = mlflow_runs.mlflow_settings(default.logger)
    assert settings.tracking_uri == f"sqlite:///{(tmp_path / 'mlruns').resolve() / 'mlflow.db'}"
    cfg = composed(["logger=csv"], tmp_path)
    assert mlflow_runs.mlflow_settings(cfg.logger) is None
    built = instantiate(cfg.logger.csv)
    assert Path(built.log_dir) == tmp_path / "out" / "csv" / "version_0"
    one_logger_form = OmegaConf.create({"_target_": mlflow_runs.MLFLOW_LOGGER, "tracking_uri": "x"})
    assert mlflow_runs.mlflow_settings(one_logger_form) == one_logger_form  # job folders written before


def test_voicebank_data_needs_a_root_and_takes_one(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^data.root=None: expected a folder \(data.root=/data/DS_10283_2791\)$"
    ):
        check_values(composed(["data=voicebank"], tmp_path))
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


# The overrides issue 24 found failing late (or in the wrong words), each answered in one line naming it.
BAD_OVERRIDES = {
    "model.n_layers=1": "model.n_layers=1: expected a whole number >= 2",
    "activation=nosuch": "activation='nosuch': expected one of relu, elu, selu, prelu",
    "snr=7": "snr=7: expected all or one of the corpus's training SNRs (0, 5, 10, 15)",
    "compress=cube": "compress='cube': expected one of none, log1p, log",
    "dropout=abc": "dropout='abc': expected a number in [0, 1)",
    "data.eq_augment_db=-1": "data.eq_augment_db=-1: expected a number of dB >= 0",
    "data.segment_frames=0": "data.segment_frames=0: expected a whole number >= 1",
    "evaluate.workers=-2": "evaluate.workers=-2: expected 'auto' or a whole number >= 0",
}


@pytest.mark.parametrize(
    ("overrides", "answer"),
    [
        (["model.kernel_size=4"], "model.kernel_size=4: expected an odd whole number"),
        (["model.dropout=1.5"], "model.dropout=1.5: expected a number in [0, 1)"),
        (["data.num_workers=many"], "data.num_workers='many': expected 'auto' or a whole number >= 0"),
        (["data.demo.voices=robots"], "data.demo.voices='robots': expected one of synthetic, debian, mixed"),
        (["data.val_speakers=some"], "data.val_speakers='some': expected auto, a number of speakers"),
        (
            ["data.stft.hop_length=600"],
            "data.stft.hop_length=600: expected hop_length <= win_length",
        ),
        (
            ["gain_floor_db=3"],
            "gain_floor_db=3: expected a floor at or below gain_ceiling_db (gain_ceiling",
        ),
        (["evaluate.max_utterances=0"], "evaluate.max_utterances=0: expected a whole number >= 1, or null"),
        (["realcheck.enabled=maybe"], "realcheck.enabled='maybe': expected true or false"),
        (["trainer.max_steps=-5"], "trainer.max_steps=-5: expected a whole number (-1 for no limit)"),
        (
            ["trainer.limit_train_batches=1.5"],
            "trainer.limit_train_batches=1.5: expected a fraction in (0, 1], a whole number of batches",
        ),
    ],
)
def test_bad_values_are_named_by_the_key_typed(overrides: list[str], answer: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        check_values(composed(overrides, tmp_path))
    assert str(refused.value).startswith(answer)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_config_passes_the_checks(model: str, tmp_path: Path) -> None:
    check_values(composed([f"model={model}"], tmp_path))


def test_a_network_outside_rcnn_se_models_is_refused_with_the_checks(tmp_path: Path) -> None:
    """A checkpoint rebuilds only classes of rcnn_se.models, so a model config naming another class (allowed
    as a `_target_` elsewhere) is refused before the job, not after its training."""
    cfg = composed(["model._target_=torch.nn.Identity"], tmp_path)
    cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])  # as train.py's job has it
    refused = r"^model\._target_='torch\.nn\.Identity': refused, expected a class of rcnn_se\.models"
    with pytest.raises(ConfigError, match=refused):
        check_config(cfg)


def test_one_default_per_setting_from_the_schema(tmp_path: Path) -> None:
    """The top-level knobs and the `evaluate` and `realcheck` blocks are the schema's, in train.py and eval.py
    alike; the network's activations are the schema's."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    cfg = composed([], tmp_path)
    for spec in dataclasses.fields(schema.System):
        assert cfg[spec.name] == getattr(schema.SYSTEM, spec.name), spec.name
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        evaluation = compose("eval", overrides=["ckpt_path=x.ckpt", "realcheck.enabled=false"])
    shared = (("evaluate", schema.Evaluate), ("realcheck", schema.Realcheck), ("paths", schema.Paths))
    for block, cls in shared:  # composed() moves train's paths into tmp_path; eval's stay as they are
        found = evaluation[block] if block == "paths" else cfg[block]
        assert OmegaConf.to_container(found) == dataclasses.asdict(cls()), block
    assert dict(evaluation.evaluate) == dict(cfg.evaluate) and evaluation.realcheck.enabled is False
    check_values(evaluation)
    assert set(ACTIVATIONS) == set(schema.ACTIVATIONS)


def test_the_generator_and_the_data_config_read_one_demo_design(tmp_path: Path) -> None:
    """`rcnn-se make-demo-corpus` builds from the generator's spec and `python train.py` from the composed
    `data.demo`: both take the schema's Demo defaults, written nowhere else (the same corpus either way)."""
    from rcnn_se.data.synth import DemoSpec

    demo = OmegaConf.to_container(composed([], tmp_path).data.demo)
    assert demo == dataclasses.asdict(schema.Demo())
    assert {name: getattr(DemoSpec(), name) for name in demo} == demo
    assert "\ndemo:" not in (CONF / "data" / "demo.yaml").read_text()
    assert composed(["data=voicebank", "data.root=/x"], tmp_path).data.demo is None
    mixed = composed(["data.demo.voices=mixed"], tmp_path).data.demo
    assert mixed.voices == "mixed" and mixed.n_train_speakers == schema.Demo().n_train_speakers


def test_the_checks_import_neither_torch_nor_lightning_nor_mlflow() -> None:
    code = (
        "import sys, rcnn_se.config, rcnn_se.config.checks, rcnn_se.config.schema, rcnn_se.config.safety; "
        "print(sorted(m for m in ('torch', 'lightning', 'mlflow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_bad_overrides_are_refused_before_anything_exists(tmp_path: Path) -> None:
    """`python train.py <bad override>` as a user runs it: exit status 1, one line on stderr naming the key,
    no job folder, no MLflow store or run (each took 1.7-2.6 s on a loaded 2-core machine)."""
    for override, answer in BAD_OVERRIDES.items():
        cmd, env = train_command(tmp_path, override)
        start = time.monotonic()
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        seconds = time.monotonic() - start
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 1 and len(lines) == 1, (override, done.stderr)
        assert lines[0].startswith(f"Error: {answer}"), (override, lines[0])
        assert not (tmp_path / "outputs").exists() and not (tmp_path / "mlruns").exists(), override
        print(f"{override}: refused in {seconds:.1f} s")


@pytest.mark.parametrize("baseline", ["noisy", "wiener", "spectral_subtraction"])
def test_a_baseline_config_writes_only_its_group_and_runs_on_linear_magnitudes(
    baseline: str, tmp_path: Path
) -> None:
    """The classic estimators choose their domain (conf/domain/linear.yaml) instead of writing global keys."""
    text = (CONF / "model" / f"{baseline}.yaml").read_text()
    assert "_global_" not in text and "compress" not in text
    cfg = composed([f"model={baseline}"], tmp_path)
    assert (cfg.compress, cfg.gain_floor_db, cfg.gain_ceiling_db) == ("none", None, None)
    assert cfg.model.name == baseline and set(cfg.model) == {"_target_", "name", "stft"}
    assert composed([f"model={baseline}", "gain_floor_db=-20"], tmp_path).gain_floor_db == -20  # typed last
