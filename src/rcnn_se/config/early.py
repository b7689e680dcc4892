"""The first thing a job of train.py, eval.py or `rcnn-se evaluate` does: check its config (rcnn_se.config
.checks) and anything else it can answer before torch, Lightning and MLflow load.

A refusal leaves nothing behind: the folder Hydra claimed for the job (holding only its log) and the empty
folders above it inside `paths.log_dir` are removed, and no run is opened. In a single run the answer is
one line on stderr and exit status 1, with none of Hydra's own lines around it; in a sweep it is that job's
failure and the others go on. `HYDRA_FULL_ERROR=1` keeps the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from omegaconf import DictConfig

from rcnn_se.errors import UserError


def discard_refused(folder: Path, top: Path) -> None:
    """Remove a refused job's folder, then each empty folder above it up to `top` (the log dir)."""
    from rcnn_se.jobs.job_dir import discard_if_unused

    if not discard_if_unused(folder):
        return
    top = top.resolve()
    for parent in folder.resolve().parents:
        if not parent.is_relative_to(top) or any(parent.iterdir()):
            return
        parent.rmdir()


def check_first(cfg: DictConfig, checks: Iterable[Callable[[DictConfig], None]]) -> None:
    """Run `checks` on the job's config; on a user error, discard the job's folder and answer in one line."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        for check in checks:
            check(cfg)
    except UserError as exc:
        hydra = HydraConfig.get()
        logging.shutdown()  # close the job's log before removing it
        discard_refused(Path(hydra.runtime.output_dir), Path(cfg.paths.log_dir))
        if hydra.mode == RunMode.RUN and os.environ.get("HYDRA_FULL_ERROR") != "1":
            sys.exit(f"Error: {exc}")
        raise
