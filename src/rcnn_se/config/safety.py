"""Which `_target_` a config may name: Hydra's `instantiate` imports and calls whatever a `_target_` names,
so a config or a checkpoint from elsewhere (a shared tracking server, a colleague's folder, a pasted
command line) could otherwise run any function, e.g. `builtins.open` truncating a file or `os.system`.

Allowed are the project's own modules and the parts of Lightning and torch that a training config builds
(trainer, callbacks, loggers, strategies, optimizers, schedulers, layers); not the rest of torch, whose
`torch.hub.load` or `torch.load` would run code again. `RCNN_SE_TRUSTED_TARGETS` (comma-separated module
prefixes, e.g. `mycallbacks.`) trusts a user's own modules on top.

The object is checked, not the string: Hydra finds a dotted `_target_` by walking attributes (its
`_locate`), so `rcnn_se.config.safety.os.open` is `os.open` and `torch.nn.modules.module.torch.save` is
`torch.save`. `resolve` walks the same way without calling anything and without importing a module outside
the allowed ones, refuses a module reached under another module's name, and the object it finds must be a
class or function defined in an allowed module (a builtin re-bound in one is defined in `builtins`).
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterator
from functools import cache
from types import ModuleType
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
MISSING = object()


class UnsafeTargetError(ConfigError):
    """A `_target_` outside the allowed modules; raised before anything it names is called."""


class Refused(Exception):
    """Why a dotted path does not name an allowed object (what it really is), for the caller's message."""


class NotFound(Exception):
    """A dotted path that names nothing (Hydra could not build it either)."""


def trusted_prefixes(hydra_key: bool = False) -> tuple[str, ...]:
    extra = tuple(p.strip() for p in os.environ.get(TRUST_VARIABLE, "").split(",") if p.strip())
    return ALLOWED_TARGETS + extra + (HYDRA_TARGETS if hydra_key else ())


def module_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    """`name` is a module the allow-list covers: `torch.nn.` covers `torch.nn` and the modules below it."""
    return any(name == entry.rstrip(".") or name.startswith(entry.rstrip(".") + ".") for entry in allowed)


def may_import(name: str, allowed: tuple[str, ...]) -> bool:
    """Importing module `name` is needed to look up an allowed object: it is allowed or a package above one
    (`torch` above `torch.nn.`, `lightning` above `lightning.Trainer`)."""
    return module_allowed(name, allowed) or any(entry.startswith(name + ".") for entry in allowed)


def import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise NotFound(f"no module {exc.name or name}") from None
    except Exception as exc:  # an allowed module that fails to import: Hydra could not import it either
        raise NotFound(
            f"importing {name} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}"
        ) from None


def describe(obj: Any, name: str) -> str:
    """What `obj`, found under the canonical dotted `name`, really is: `os.open, defined in posix`."""
    if isinstance(obj, ModuleType):
        return f"the module {obj.__name__}"
    module = getattr(obj, "__module__", None) if inspect.isclass(obj) or inspect.isroutine(obj) else None
    if isinstance(module, str):
        return f"{name}, defined in {module}"
    return f"{name}, a {type(obj).__name__}"


def static_rest(obj: Any, name: str, rest: list[str]) -> tuple[Any, str]:
    """Follow `rest` from `obj` to say what a refused path would have reached, by plain lookups that run
    no code (module dicts, `inspect.getattr_static`) and import nothing; stops where that finds nothing."""
    for part in rest:
        found = inspect.getattr_static(obj, part, MISSING)
        if found is MISSING:
            return obj, name
        obj = found
        name = obj.__name__ if isinstance(obj, ModuleType) else f"{name}.{part}"
    return obj, name


def resolve(target: str, allowed: tuple[str, ...]) -> tuple[Any, str]:
    """(object, canonical dotted name) that Hydra's `_locate` would find for `target`, found the same way
    (import the first part; then `getattr` each next part, importing the submodule only where a module
    lacks the attribute) but calling nothing the path names and importing no module outside `allowed`.
    Refused: a module reached by a path other than its own name (`rcnn_se.config.safety.os` is the
    module `os`, imported by safety). The canonical name restarts at each module's real name."""
    parts = target.split(".")
    if not all(parts):
        raise NotFound("not a dotted name")
    path = name = parts[0]
    if not may_import(path, allowed):
        raise Refused(f"the module {path} is outside the allowed modules")
    obj: Any = import_module(path)
    for i, part in enumerate(parts[1:], start=2):
        parent, path = path, f"{path}.{part}"
        try:
            obj = getattr(obj, part)
        except AttributeError:
            if not isinstance(obj, ModuleType):
                raise NotFound(f"{parent} has no attribute {part}") from None
            if not may_import(path, allowed):
                raise Refused(
                    f"{parent} has no attribute {part}, and the module {path} is outside the allowed modules"
                ) from None
            obj = import_module(path)
        if isinstance(obj, ModuleType):
            if obj.__name__ != path:
                found, real = static_rest(obj, obj.__name__, parts[i:])
                via = f"{path} is the module {obj.__name__} that {parent} imports"
                if object_allowed(found, real, allowed):
                    raise Refused(
                        f"resolves to {describe(found, real)} through another module ({via}): write {real}"
                    )
                raise Refused(f"resolves to {describe(found, real)}, outside the allowed modules ({via})")
            if not may_import(path, allowed):
                raise Refused(f"resolves to the module {path}, outside the allowed modules")
            name = path
        else:
            name = f"{name}.{part}"
    return obj, name


@cache
def named_object(entry: str) -> Any:
    """The one object an allow-list entry without a trailing dot names (`lightning.Trainer`)."""
    return resolve(entry, (entry,))[0]


def object_allowed(obj: Any, target: str, allowed: tuple[str, ...]) -> bool:
    """`obj` is a class or function defined in an allowed module, or the object an entry names."""
    for entry in allowed:
        if not entry.endswith(".") and target.startswith(entry):
            try:
                if obj is named_object(entry):
                    return True
            except (Refused, NotFound):
                pass
    if isinstance(obj, ModuleType) or not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return False
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and module_allowed(module, allowed)


def refusal(key: str, target: Any, allowed: tuple[str, ...], why: str) -> UnsafeTargetError:
    """The one line: the key as typed, what its value really resolves to, and what is allowed."""
    return UnsafeTargetError(
        f"{key}={target!r}: refused, {why}; a _target_ must name a class or function defined in "
        f"{', '.join(allowed)} (trust your own module with {TRUST_VARIABLE}=yourmodule.)"
    )


def allowed_for(key: str) -> tuple[str, ...]:
    return trusted_prefixes(key == "hydra" or key.startswith("hydra."))


def check_target_string(target: Any, key: str) -> None:
    """The first, cheap test: a dotted name under an allowed prefix (nothing imported yet)."""
    allowed = allowed_for(key)
    if not isinstance(target, str) or not target.startswith(allowed):
        raise UnsafeTargetError(
            f"{key}={target!r}: refused, a _target_ must name a class in {', '.join(allowed)} "
            f"(trust your own module with {TRUST_VARIABLE}=yourmodule.)"
        )


def check_target(target: Any, key: str) -> None:
    """Refuse a `_target_` unless it is a dotted name under an allowed prefix AND the object Hydra would
    find for it is a class or function defined in an allowed module (modules of allowed packages are
    imported to look it up; nothing it names is called)."""
    check_target_string(target, key)
    allowed = allowed_for(key)
    try:
        obj, name = resolve(target, allowed)
    except Refused as exc:
        raise refusal(key, target, allowed, str(exc)) from None
    except NotFound as exc:
        raise ConfigError(f"{key}={target!r}: no such class or function ({exc})") from None
    if not object_allowed(obj, target, allowed):
        what = describe(obj, name)
        outside = "not a class or function" if isinstance(obj, ModuleType) else "outside the allowed modules"
        raise refusal(key, target, allowed, f"resolves to {what}, {outside}")


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
    """Every `_target_` of a resolved config container must be allowed: every string first (a foreign one
    is refused before anything is imported), then every object."""
    found = list(targets(container))
    for key, target in found:
        check_target_string(target, key)
    for key, target in found:
        check_target(target, key)


def check_command_line(args: list[str]) -> None:
    """Refuse `_target_` overrides on the command line before Hydra instantiates anything (Hydra builds its
    own `hydra.callbacks` before the job starts, so the job's check would come too late for those)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    found: list[tuple[str, Any]] = []
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
                found.append((key, one))
            found.extend(targets(one, key))
    for key, target in found:
        check_target_string(target, key)
    for key, target in found:
        check_target(target, key)


def check_checkpoint_targets(hparams: dict, source: str) -> None:
    """A checkpoint's stored config builds nothing but its network: a `_target_` anywhere outside its
    `model_config` (`stft`, the gain bounds, any nested key) is refused, unimported; `model_class` checks
    `model_config` itself."""
    for key, target in targets({k: v for k, v in hparams.items() if k != "model_config"}):
        raise UnsafeTargetError(
            f"{source}: {key}={target!r}: refused, a checkpoint's config may name only its model class "
            "(model_config._target_)"
        )


def model_class(model_config: dict, where: str) -> type:
    """The network class a model config names (`where`: the config as the user knows it, `model` in a job's
    config, `<file>: model_config` in a checkpoint), which must be a class defined in `rcnn_se.models`;
    checked as a string before any import, then as the object (only modules of `rcnn_se.models` imported to
    find it), and nested `_target_`s (which `instantiate` would also call) refused."""
    target = model_config.get("_target_")
    nested = list(targets({k: v for k, v in model_config.items() if k != "_target_"}))
    if nested:
        key, value = nested[0]
        raise UnsafeTargetError(f"{where} holds nested _target_ {key}={value!r}: refused")
    if not isinstance(target, str) or not target.startswith(MODELS_PACKAGE) or target.count(".") < 3:
        raise UnsafeTargetError(
            f"{where}._target_={target!r}: refused, expected a class of {MODELS_PACKAGE[:-1]} (a network "
            "must be rebuildable from its checkpoint)"
        )
    allowed = (MODELS_PACKAGE,)
    try:
        found, name = resolve(target, allowed)
    except NotFound:
        raise ConfigError(f"{where}._target_={target!r}: no such model class") from None
    except Refused as exc:
        raise UnsafeTargetError(f"{where}._target_={target!r}: refused, {exc}") from None
    if not inspect.isclass(found) or not object_allowed(found, target, allowed):
        raise UnsafeTargetError(
            f"{where}._target_={target!r}: refused, resolves to {describe(found, name)}, not a model class"
        )
    return found
