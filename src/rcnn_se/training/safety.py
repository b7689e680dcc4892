"""Which `_target_` a config may name: Hydra's `instantiate` imports and calls whatever a `_target_` names,
so a config or a checkpoint from elsewhere (a shared tracking server, a colleague's folder, a pasted
command line) could otherwise run any function, e.g. `builtins.open` truncating a file or `os.system`.

Allowed are the project's own modules and the parts of Lightning and torch that a training config builds
(trainer, callbacks, loggers, strategies, optimizers, schedulers, layers); not the rest of torch, whose
`torch.hub.load` or `torch.load` would run code again. `RCNN_SE_TRUSTED_TARGETS` (comma-separated module
prefixes, e.g. `mycallbacks.`) trusts a user's own modules on top.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterator
from typing import Any

from rcnn_se.errors import ConfigError

ALLOWED_TARGETS = (
    "rcnn_se.",
    "lightning.Trainer",
    "lightning.pytorch.Trainer",
    "lightning.pytorch.accelerators.",
    "lightning.pytorch.callbacks.",
    "lightning.pytorch.loggers.",
    "lightning.pytorch.plugins.",
    "lightning.pytorch.profilers.",
    "lightning.pytorch.strategies.",
    "torch.nn.",
    "torch.optim.",
)
HYDRA_TARGETS = ("hydra_plugins.",)  # launchers and sweepers, under `hydra.*` keys only
TRUST_VARIABLE = "RCNN_SE_TRUSTED_TARGETS"
MODELS_PACKAGE = "rcnn_se.models."


class UnsafeTargetError(ConfigError):
    """A `_target_` outside the allowed modules; raised before anything is imported or built."""


def trusted_prefixes(hydra_key: bool = False) -> tuple[str, ...]:
    extra = tuple(p.strip() for p in os.environ.get(TRUST_VARIABLE, "").split(",") if p.strip())
    return ALLOWED_TARGETS + extra + (HYDRA_TARGETS if hydra_key else ())


def check_target(target: Any, key: str) -> None:
    """Refuse a `_target_` value that is not a dotted name under an allowed prefix."""
    hydra_key = key == "hydra" or key.startswith("hydra.")
    allowed = trusted_prefixes(hydra_key)
    if not isinstance(target, str) or not target.startswith(allowed):
        raise UnsafeTargetError(
            f"{key}={target!r}: refused, a _target_ must name a class in {', '.join(allowed)} "
            f"(trust your own module with {TRUST_VARIABLE}=yourmodule.)"
        )


def targets(tree: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted key, value) of a `_target_` in nested dicts and lists."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            path = f"{key}.{name}" if key else str(name)
            if name == "_target_":
                yield path, value
            else:
                yield from targets(value, path)
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            yield from targets(value, f"{key}[{i}]")


def check_config_targets(container: dict) -> None:
    """Every `_target_` of a resolved config container must be allowed."""
    for key, target in targets(container):
        check_target(target, key)


def check_command_line(args: list[str]) -> None:
    """Refuse `_target_` overrides on the command line before Hydra instantiates anything (Hydra builds its
    own `hydra.callbacks` before the job starts, so the job's check would come too late for those)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for arg in args:
        if "_target_" not in arg or arg.startswith("-"):
            continue
        try:
            (override,) = parser.parse_overrides([arg])
        except HydraException:
            continue  # Hydra rejects it itself, before building anything
        value = override.value()
        values = value.list if isinstance(value, ChoiceSweep) else [value]
        key = override.key_or_group
        for one in values:
            if key == "_target_" or key.endswith("._target_"):
                check_target(one, key)
            for sub_key, target in targets(one, key):
                check_target(target, sub_key)


def model_class(model_config: dict, source: str) -> type:
    """The network class a checkpoint's `model_config` names, which must be one of `rcnn_se.models`; checked
    as a string before any import, and nested `_target_`s (which `instantiate` would also call) refused."""
    target = model_config.get("_target_")
    nested = [k for k, _ in targets({k: v for k, v in model_config.items() if k != "_target_"})]
    if nested:
        raise UnsafeTargetError(f"{source}: model_config holds nested _target_ {nested[0]}: refused")
    if not isinstance(target, str) or not target.startswith(MODELS_PACKAGE) or target.count(".") < 3:
        raise UnsafeTargetError(
            f"{source}: model_config._target_={target!r}: refused, expected a class of {MODELS_PACKAGE[:-1]}"
        )
    module_name, _, class_name = target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise ConfigError(f"{source}: model_config._target_={target!r}: no such model class") from None
    if not inspect.isclass(found) or not found.__module__.startswith(MODELS_PACKAGE):
        raise UnsafeTargetError(f"{source}: model_config._target_={target!r}: refused, not a model class")
    return found
