"""Every check a job's config gets before anything is imported, instantiated or logged, derived from the
schema (rcnn_se.config.schema) in this one place.

Hydra passes `dropout=abc` through as a string; unchecked, the error would surface deep inside torch
(`'<=' not supported between 'float' and 'str'`) without naming the key, after the job's folder and MLflow
run exist. Here it is one line naming the key the user typed, in about a second: only omegaconf is imported
until the `_target_`s are looked up, last. Constructors and job code trust a config that passed.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, get_args, get_type_hints

from omegaconf import DictConfig, OmegaConf

from rcnn_se.config.safety import check_config_targets, model_class
from rcnn_se.config.schema import BLOCKS
from rcnn_se.errors import ConfigError


def nested_block(cls: type, name: str) -> type | None:
    """The dataclass a field of `cls` holds (`Data.stft` -> Stft, `Data.demo` -> Demo from `Demo | None`)."""
    hint = get_type_hints(cls)[name]
    options = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return next((t for t in options if is_dataclass(t)), None)


def check_block(node: Mapping, cls: type, prefix: str) -> None:
    """Raise ConfigError for the first setting of `node` (a config's block, or a plain dict such as a
    checkpoint's STFT settings) its schema `cls` refuses, then for the first broken relation; settings the
    node lacks (a baseline's `model.channels`) are skipped."""
    for spec in fields(cls):
        if spec.name not in node:
            continue
        key, value = f"{prefix}{spec.name}", node[spec.name]
        rule = spec.metadata.get("rule")
        if rule is None:
            inner = nested_block(cls, spec.name)
            if inner is not None and isinstance(value, Mapping):
                check_block(value, inner, f"{key}.")
        elif not rule.valid(value):
            raise ConfigError(f"{key}={value!r}: expected {rule.expected}")
    for relation in getattr(cls, "RELATIONS", ()):
        if not all(k in node for k in relation.keys):
            continue
        values = [node[k] for k in relation.keys]
        if not relation.holds(*values):
            first, others = relation.keys[0], zip(relation.keys[1:], values[1:], strict=True)
            given = ", ".join(f"{prefix}{k}={v!r}" for k, v in others)
            raise ConfigError(f"{prefix}{first}={values[0]!r}: expected {relation.expected} ({given})")


def check_values(cfg: DictConfig) -> None:
    """Every block of the schema that `cfg` has, the top-level knobs first (so `activation=nosuch` is named
    as typed, not as the `model.activation` it feeds)."""
    for where, cls in BLOCKS:
        node: Any = cfg if not where else OmegaConf.select(cfg, where, default=None)
        if isinstance(node, DictConfig):
            check_block(node, cls, f"{where}." if where else "")


def check_optimized_metric(metric: str | None) -> None:
    """A sweeper tunes on what `optimized_metric` names; tuning on test scores would leak the test set into
    the choice of hyper-parameters, so only validation metrics (`val/...`) are accepted."""
    if metric and not str(metric).startswith("val/"):
        raise ConfigError(
            f"optimized_metric={metric}: must be a validation metric (val/...), never a test one; "
            "e.g. optimized_metric=val/loss_best"
        )


def check_settings(cfg: DictConfig) -> None:
    """Values, relations and the optimized metric: no import beyond the schema's."""
    check_values(cfg)
    check_optimized_metric(cfg.get("optimized_metric"))


def check_targets(cfg: DictConfig) -> None:
    """Every `_target_`; looking up the object a target names imports its module (torch or Lightning among
    them, seconds), so the checks that need no import go first."""
    container = OmegaConf.to_container(cfg, resolve=True)
    check_config_targets(container)
    if isinstance(container.get("model"), dict):  # a network must be rebuildable from its checkpoint
        model_class(container["model"], "model")


def check_config(cfg: DictConfig) -> None:
    """Settings, then targets."""
    check_settings(cfg)
    check_targets(cfg)
