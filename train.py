"""Train and evaluate one configuration; `-m` sweeps. See conf/train.yaml and experiments/README.md."""

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
    from rcnn_se.config.checks import check_settings, check_targets
    from rcnn_se.config.early import check_first
    from rcnn_se.data.corpus import check_snr_condition
    from rcnn_se.errors import one_line_errors
    from rcnn_se.tracking.mlflow_runs import mlflow_settings
    from rcnn_se.tracking.store import check_store

    def check_snr(c: DictConfig) -> None:
        check_snr_condition(c.data.root, c.snr, demo=c.data.get("demo") is not None)

    def check_tracking(c: DictConfig) -> None:
        settings = mlflow_settings(c.logger)
        check_store(settings.get("tracking_uri", "") if settings else "")

    with one_line_errors():  # config, server and store checked before the slow imports: answered in seconds
        check_first(cfg, [check_tracking, check_settings, check_snr, check_targets])  # the slow one last
        from rcnn_se.jobs.train_job import (
            train_and_test,  # imported late so --help and config errors answer fast
        )

        return train_and_test(cfg)


if __name__ == "__main__":
    from rcnn_se.config.safety import check_command_line
    from rcnn_se.errors import ConfigError, one_line_errors

    try:  # before Hydra builds anything, its own callbacks included
        check_command_line(sys.argv[1:])
    except ConfigError as exc:
        sys.exit(f"Error: {exc}")
    sys.argv[1:] = multirun_flag_first(sys.argv[1:])
    with one_line_errors():  # a Ctrl-C before the job's own handler (composing, importing): one line, 130
        main()
