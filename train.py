"""Train and evaluate one configuration; `-m` sweeps. See conf/train.yaml and experiments/README.md."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rcnn_se.config import register_resolvers

os.environ.setdefault("RCNN_SE_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from rcnn_se.run import run  # imported late so --help and config errors answer fast

    return run(cfg)


if __name__ == "__main__":
    main()
