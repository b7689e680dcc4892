"""Command-line options made from a builder's spec dataclass (`DemoSpec`, `CorpusSpec`): each field's type
and default are declared once, in the dataclass, and `rcnn-se make-demo-corpus` / `make-corpus` read them
from there instead of restating them option by option."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

Spec = TypeVar("Spec")


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _option_type(hint: Any) -> dict[str, Any]:
    """argparse keywords for a field's type: numbers and strings as they are, a bool as --x/--no-x, a tuple
    of floats as a comma-separated list, `T | None` as T."""
    if isinstance(hint, types.UnionType):
        (hint,) = [t for t in typing.get_args(hint) if t is not type(None)]
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is tuple:
        return {"type": _floats, "metavar": "A,B,..."}
    return {"type": hint}


def add_spec_options(
    parser: argparse.ArgumentParser,
    spec_type: type,
    renamed: dict[str, str] | None = None,
    choices: dict[str, Sequence[str]] | None = None,
) -> None:
    """One `--field-name` option per field of `spec_type` (`renamed` maps a field to another option name),
    its default the dataclass's, its help the schema's line for it where the field is a schema setting."""
    hints = typing.get_type_hints(spec_type)
    for field in dataclasses.fields(spec_type):
        name = (renamed or {}).get(field.name, field.name.replace("_", "-"))
        extra = {"choices": choices[field.name]} if field.name in (choices or {}) else {}
        if "doc" in field.metadata:  # a schema setting documents itself (rcnn_se.config.schema.setting)
            extra["help"] = f"{field.metadata['doc']} (default: %(default)s)"
        parser.add_argument(
            f"--{name}", dest=field.name, default=field.default, **_option_type(hints[field.name]), **extra
        )


def spec_from(spec_type: type[Spec], args: argparse.Namespace) -> Spec:
    return spec_type(**{field.name: getattr(args, field.name) for field in dataclasses.fields(spec_type)})
