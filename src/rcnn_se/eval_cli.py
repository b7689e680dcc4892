"""`rcnn-se evaluate`: eval.py's Hydra app (rcnn_se.jobs.eval_job) from any folder. An entry point, so it sits
at the top beside cli.py and the config package, whose resolvers it registers."""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from rcnn_se.config.schema import CONF_DIR
from rcnn_se.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    """`rcnn-se evaluate [overrides]`: the same Hydra app as `python eval.py`, from any folder."""
    import os

    import hydra

    from rcnn_se.config import multirun_flag_first, register_resolvers
    from rcnn_se.config.checks import check_config
    from rcnn_se.config.early import check_first
    from rcnn_se.config.safety import check_command_line
    from rcnn_se.errors import one_line_errors
    from rcnn_se.jobs.eval_job import check_request

    os.environ.setdefault("RCNN_SE_ROOT", str(CONF_DIR.parent))
    register_resolvers()

    def app(cfg: DictConfig) -> float | None:
        with one_line_errors():  # answered before torch and MLflow load, as eval.py does
            check_first(cfg, [check_request, check_config])
            from rcnn_se.jobs.eval_job import evaluate_checkpoint

            return evaluate_checkpoint(cfg)

    args = sys.argv[1:] if argv is None else argv
    try:  # before Hydra builds anything, as train.py does
        check_command_line(args)
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    sys.argv = ["rcnn-se evaluate", *multirun_flag_first(args)]
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")(app)()
    return 0
