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
import re
from pathlib import Path
from typing import Any

import torch

from rcnn_se.errors import ConfigError

log = logging.getLogger(__name__)
WEIGHTS_ONLY_REFUSAL = "Weights only load failed"  # how torch (2.4 to 2.11 at least) begins one


class CheckpointError(ConfigError):
    """A checkpoint that cannot be read, or that holds more than weights and plain values."""


def _pickled(path: str | Path) -> bool:
    """Whether the file begins as a checkpoint does: a zip (torch.save) or a pickle of protocol 2 or later;
    torch's weights-only reader calls any other bytes an 'unsupported operand' as well."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return head == b"PK" or head[:1] == b"\x80"


def refusal(path: str | Path, exc: pickle.UnpicklingError) -> CheckpointError:
    """Torch's weights-only refusal in our words. Torch's own message advises loading with
    `weights_only=False` or allow-listing the blocked class: for a file of unknown origin that advice is
    the attack, so none of it is repeated; only what the file asked for is named."""
    text = str(exc)
    if not text.startswith(WEIGHTS_ONLY_REFUSAL) or not _pickled(path):  # garbage or another format
        return CheckpointError(f"{path}: not a readable checkpoint ({text.strip()[:200]})")
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named:
        return CheckpointError(
            f"{path}: refused, it holds objects other than tensors and plain values "
            f"(loaded weights-only, nothing in it was run: it names {named[1]})"
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    return CheckpointError(
        f"{path}: refused, its pickle is not one weights-only loading reads "
        f"({detail[1].strip() if detail else 'unsupported'}; nothing in it was run)"
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, loaded weights-only; a clear one-line error names the file otherwise."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise refusal(path, exc) from None
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
