"""Keep a job's output to what a user can act on: Lightning's advertising tips and warnings we know to be
harmless here are dropped; every other message passes untouched.

Known and harmless (lightning 2.6 with torch 2.11):
* "💡 Tip: ... try installing litlogger / litmodels": an advertisement, logged at every trainer start;
* "Detected KeyboardInterrupt, attempting graceful shutdown ..." and "[rank: 0] Received SIGTERM: 15": the
  job's own last line says what happened to an interrupted run and how to resume it
  (rcnn_se.errors.one_line_errors);
* "`isinstance(treespec, LeafSpec)` is deprecated": raised inside Lightning's own pytree helper;
* "Precision bf16-mixed is not supported by the model summary": the summary's size estimate only;
* MLflow's system-metrics monitor announcing that it starts, stops and skips GPUs (its warnings stay);
* MLflow's download progress bars, drawn when it checks a logged model's input example (unless the user
  set MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR).
"""

from __future__ import annotations

import logging
import os
import warnings

# Lightning's advertising, and its notes on a Ctrl-C or SIGTERM, which the job's own last line says better
DROPPED = ("💡 Tip:", "Detected KeyboardInterrupt, attempting graceful shutdown", "Received SIGTERM:")
KNOWN_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    r"Precision .* is not supported by the model summary",
)
LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.trainer.connectors.signal_connector",
)


class DropKnownLines(logging.Filter):
    """A logging filter that drops Lightning's advertising tips and its interruption notes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in str(record.msg) for text in DROPPED)


def silence_known_noise() -> None:
    """Install the filters (idempotent: a second call adds nothing)."""
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropKnownLines) for f in logger.filters):
            logger.addFilter(DropKnownLines())
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for pattern in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
