"""Where `rcnn-se enhance` writes each input, so that no output overwrites another output or an input.

`<stem>_enhanced.wav` in the output folder; inputs whose names collide (`a/same.wav` and `b/same.wav`) keep
their folders relative to the inputs' common folder (`b/same_enhanced.wav`), and those that still collide
(`clip.flac` and `clip.mp3` side by side) get a numeric suffix (`clip_enhanced_2.wav`).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

SUFFIX = "_enhanced.wav"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def output_paths(inputs: list[Path], out: Path) -> dict[Path, Path]:
    """Input -> output path for each distinct input (a file listed twice is enhanced once), all distinct."""
    unique: list[Path] = []
    for path in inputs:
        if not any(_same_file(path, seen) for seen in unique):
            unique.append(path)
    names = {path: f"{path.stem}{SUFFIX}" for path in unique}
    clashing = [p for p in unique if Counter(names.values())[names[p]] > 1]
    relative: dict[Path, Path] = {}
    if clashing:
        base = Path(os.path.commonpath([str(p.resolve().parent) for p in clashing]))
        relative = {p: p.resolve().parent.relative_to(base) for p in clashing}
    chosen: dict[Path, Path] = {}
    taken: set[Path] = set()
    for path in unique:
        target = out / relative.get(path, Path()) / names[path]
        n = 1
        while target in taken:
            n += 1
            target = target.with_name(f"{path.stem}_enhanced_{n}.wav")
        taken.add(target)
        chosen[path] = target
    return chosen


def overwritten_inputs(mapping: dict[Path, Path]) -> list[Path]:
    """Inputs that some output would overwrite (e.g. `-o` is the input folder and an input is named
    `x_enhanced.wav`)."""
    return [path for path in mapping if any(_same_file(path, target) for target in mapping.values())]
