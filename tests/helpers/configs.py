"""The project's configs composed as `python train.py` composes them, without running a job."""

from __future__ import annotations

import itertools
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from rcnn_se.config import register_resolvers

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def composed(overrides: list[str], tmp_path: Path) -> DictConfig:
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.root_dir={tmp_path}", *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "out")  # set by @hydra.main in a real job
    HydraConfig.instance().set_config(cfg)
    return cfg


def sweep_points(experiment: str, tmp_path: Path) -> list[list[str]]:
    """The override lists of every job `python train.py experiment=NAME -m` would launch."""
    params = composed([f"experiment={experiment}"], tmp_path).hydra.sweeper.params or {}
    grid = [[f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()]
    return [[f"experiment={experiment}", *point] for point in itertools.product(*grid)]
