"""Score a trained model on a corpus's test split, without training (see conf/eval.yaml):

python eval.py run_id=<training run> data=voicebank data.root=/data/testset_only
python eval.py ckpt_path=outputs/train/runs/<time>/checkpoints/last.ckpt
"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rcnn_se.config import multirun_flag_first, register_resolvers

os.environ.setdefault("RCNN_SE_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from rcnn_se.config.checks import check_config
    from rcnn_se.config.early import check_first
    from rcnn_se.errors import one_line_errors
    from rcnn_se.jobs.eval_job import check_request

    with one_line_errors():  # answered before torch and MLflow load, as train.py does
        check_first(cfg, [check_request, check_config])
        from rcnn_se.jobs.eval_job import evaluate_checkpoint  # imported late so --help answers fast

        return evaluate_checkpoint(cfg)


if __name__ == "__main__":
    from rcnn_se.config.safety import check_command_line
    from rcnn_se.errors import ConfigError, one_line_errors

    try:  # before Hydra builds anything, as train.py does
        check_command_line(sys.argv[1:])
    except ConfigError as exc:
        sys.exit(f"Error: {exc}")
    sys.argv[1:] = multirun_flag_first(sys.argv[1:])
    with one_line_errors():  # a Ctrl-C before the job's own handler (composing, importing): one line, 130
        main()
