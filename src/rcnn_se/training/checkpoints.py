"""Reading checkpoints without running code from them, and finding a readable one to resume from.

`torch.load(weights_only=False)` unpickles arbitrary objects, so a crafted `.ckpt` (from a shared tracking
server, a download, a colleague's folder) runs code the moment it is opened. The project's checkpoints
hold only tensors, numbers, strings and containers (Lightning's loop, optimizer, scheduler and callback
states included), which torch's weights-only unpickler accepts as they are, so every load here is
weights-only and anything else in a file is refused.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import torch

from rcnn_se.errors import ConfigError

log = logging.getLogger(__name__)


class CheckpointError(ConfigError):
    """A checkpoint that cannot be read, or that holds more than weights and plain values."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, loaded weights-only; a clear one-line error names the file otherwise."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        blocked = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line]
        if not blocked:  # not a pickle of anything: garbage or another format
            raise CheckpointError(f"{path}: not a readable checkpoint ({str(exc).strip()[:200]})") from None
        raise CheckpointError(
            f"{path}: refused, it holds objects other than tensors and plain values "
            f"(loaded weights-only, nothing in it was run: {blocked[0]})"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        reason = str(exc).strip().split(". ")[0][:160] or f"{type(exc).__name__}: the file ends too soon"
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return ckpt


def readable_checkpoint(folder: Path, preferred: Path) -> Path | None:
    """`preferred` (last.ckpt) when it loads, else the newest other checkpoint in `folder` that does, with a
    warning; None when there is none. A job killed while writing last.ckpt leaves it truncated, while the
    best-epoch checkpoint beside it is whole: resuming from that loses an epoch or two, not the job."""
    candidates = [preferred] + sorted(
        (p for p in folder.glob("*.ckpt") if p != preferred), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for path in candidates:
        if not path.is_file():
            continue
        try:
            load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("cannot resume from %s", exc)
            continue
        if path != preferred:
            log.warning("resuming from %s instead of %s", path, preferred)
        return path
    return None
