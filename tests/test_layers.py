"""The package's folders are its layers (docs/architecture.md): a module imports from its own layer or lower
ones, never from a higher one, and imports made inside functions count too (they only delay the arrow)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rcnn_se"

# The second part of a module's dotted name (or its second and third, which win) -> its layer, bottom (0)
# to top (7). The config package spans two: what a valid config is (schema, checks, the `_target_` guard)
# at the ground, where any layer may consult it; its front, resolvers and job start with the entry points.
LAYERS = {
    "errors": 0,
    "cpu": 0,
    "config.schema": 0,
    "config.checks": 0,
    "config.safety": 0,
    "data": 1,
    "models": 1,
    "metrics": 1,
    "training": 2,
    "evaluation": 3,
    "tracking": 4,
    "deploy": 5,
    "reporting": 5,
    "jobs": 6,
    "cli": 7,
    "config": 7,
    "eval_cli": 7,
}


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> int | None:
    """The layer of a dotted `rcnn_se...` name; the bare package (its empty `__init__`) is the ground."""
    parts = name.split(".")
    return 0 if len(parts) == 1 else LAYERS.get(".".join(parts[1:3]), LAYERS.get(parts[1]))


def imported(tree: ast.AST, name: str, is_package: bool) -> list[tuple[str, int]]:
    """(`rcnn_se...` module or package named, line) for every import in the tree, nested ones included;
    `from rcnn_se import x` names `rcnn_se.x`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            if base == "rcnn_se":
                found += [(f"rcnn_se.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((base, node.lineno))
    return [(n, line) for n, line in found if n == "rcnn_se" or n.startswith("rcnn_se.")]


def violations(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        name = module_name(path, package)
        own = layer(name)
        if own is None:
            problems.append(f"{name}: not in any layer (place it in a layer's package or add it to LAYERS)")
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for target, line in imported(tree, name, path.name == "__init__.py"):
            theirs = layer(target)
            if theirs is None or theirs > own:
                problems.append(f"{name} (layer {own}) line {line} imports {target} (layer {theirs})")
    return problems


def test_every_module_is_in_a_layer_and_imports_none_above_it() -> None:
    problems = violations()
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_the_checker_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    package = tmp_path / "rcnn_se"
    (package / "data").mkdir(parents=True)
    (package / "errors.py").write_text("def f():\n    from rcnn_se.data import audio\n")
    (package / "data" / "audio.py").write_text("from rcnn_se.errors import f\n")
    assert violations(package) == ["rcnn_se.errors (layer 0) line 2 imports rcnn_se.data (layer 1)"]
