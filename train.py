"""Train and evaluate one configuration; `-m` sweeps. See conf/train.yaml and experiments/README.md."""

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rcnn_se.config import multirun_flag_first, register_resolvers

os.environ.setdefault("RCNN_SE_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from rcnn_se.errors import UserError, one_line_errors
    from rcnn_se.tracking.store import check_server
    from rcnn_se.training.validate import check_config

    with one_line_errors():  # config and server checked before the slow imports: answered in seconds
        try:
            check_server(cfg.logger.get("tracking_uri", ""))
            check_config(cfg)
        except UserError:  # refused before it began: its output folder holds only Hydra's log
            from hydra.core.hydra_config import HydraConfig

            from rcnn_se.jobs.job_dir import discard_if_unused

            logging.shutdown()  # close train.log before removing it
            discard_if_unused(HydraConfig.get().runtime.output_dir)
            raise
        from rcnn_se.jobs.train_job import (
            train_and_test,  # imported late so --help and config errors answer fast
        )

        return train_and_test(cfg)


if __name__ == "__main__":
    from rcnn_se.errors import ConfigError
    from rcnn_se.training.safety import check_command_line

    try:  # before Hydra builds anything, its own callbacks included
        check_command_line(sys.argv[1:])
    except ConfigError as exc:
        sys.exit(f"Error: {exc}")
    sys.argv[1:] = multirun_flag_first(sys.argv[1:])
    main()
