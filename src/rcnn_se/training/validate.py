"""Types and ranges of the knobs a user overrides most, checked before a job creates its MLflow run.

Hydra passes `dropout=abc` through as a string, and the error would surface deep inside torch
(`'<=' not supported between 'float' and 'str'`) without naming the key, after the run had been created
and marked FAILED. Here it is one line naming the key, and nothing is logged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rcnn_se.data.debian_audio import VOICES
from rcnn_se.errors import ConfigError

_ABSENT = object()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number_in(low: float, high: float) -> tuple[Callable[[Any], bool], str]:
    """A number in the half-open range [low, high)."""
    return (lambda v: _number(v) and low <= v < high), f"a number in [{low:g}, {high:g})"


POSITIVE = (lambda v: _number(v) and v > 0), "a positive number"
COUNT = (lambda v: _integer(v) and v >= 1), "a whole number >= 1"
LIMIT = (lambda v: _integer(v) and v >= -1), "a whole number (-1 for no limit)"
OPTIONAL_COUNT = (lambda v: v is None or (_integer(v) and v >= 1)), "null or a whole number >= 1"
OPTIONAL_DB = (lambda v: v is None or _number(v)), "a number of dB, or null"

CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dropout": number_in(0, 1),
    "seed": (_integer, "a whole number"),
    "snr": ((lambda v: v == "all" or _number(v)), "'all' or a number of dB"),
    "gain_floor_db": OPTIONAL_DB,
    "gain_ceiling_db": OPTIONAL_DB,
    "underestimate_weight": POSITIVE,
    "envelope_weight": ((lambda v: _number(v) and v >= 0), "a weight >= 0 (0 = off)"),
    "threads": OPTIONAL_COUNT,
    "model.n_layers": COUNT,
    "model.channels": COUNT,
    "model.dropout": number_in(0, 1),
    "optimizer.lr": POSITIVE,
    "trainer.max_epochs": LIMIT,
    "trainer.max_steps": LIMIT,
    "data.batch_size": COUNT,
    "data.segment_frames": COUNT,
    "data.demo.voices": ((lambda v: v in VOICES), f"one of {', '.join(VOICES)}"),
    "data.eq_augment_db": ((lambda v: _number(v) and v >= 0), "a number of dB >= 0 (0 = off)"),
    "evaluate.max_utterances": OPTIONAL_COUNT,
    "evaluate.workers": ((lambda v: v == "auto" or (_integer(v) and v >= 0)), "'auto' or a number >= 0"),
}


def check_values(cfg: DictConfig) -> None:
    """Raise ConfigError for the first key whose value has the wrong type or range (keys a config does not
    have, such as `model.channels` of a baseline, are skipped)."""
    for key, (valid, expected) in CHECKS.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT and not valid(value):
            raise ConfigError(f"{key}={value!r}: expected {expected}")


def check_optimized_metric(metric: str | None) -> None:
    """A sweeper tunes on what `optimized_metric` names; tuning on test scores would leak the test set into
    the choice of hyper-parameters, so only validation metrics (`val/...`) are accepted."""
    if metric and not str(metric).startswith("val/"):
        raise ConfigError(
            f"optimized_metric={metric}: must be a validation metric (val/...), never a test one; "
            "e.g. optimized_metric=val/loss_best"
        )


def check_config(cfg: DictConfig) -> None:
    """Every check a job's config gets before anything is imported, instantiated or logged: train.py runs it
    ahead of torch and Lightning, so a typo is answered in about a second and leaves no run behind."""
    from rcnn_se.training.safety import check_config_targets

    check_values(cfg)
    check_optimized_metric(cfg.get("optimized_metric"))
    check_config_targets(OmegaConf.to_container(cfg, resolve=True))  # last: it imports what targets name
