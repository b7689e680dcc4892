"""A pickled checkpoint is refused in words that do not hand the attack back to the user. Torch's own
refusal says to load the file again with `weights_only=False` (or to allow-list the class it asked for),
which for a checkpoint of unknown origin runs whatever it holds. The forms tried are the ones met in
practice: a whole `nn.Module` saved with `torch.save`, a crafted payload, a protocol-4 pickle (no global
named in torch's refusal) and the pre-1.6 non-zip format."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.jobs import evaluate
from rcnn_se.data.audio import write_wav
from rcnn_se.deploy.enhance import main as enhance_main
from rcnn_se.training.checkpoints import CheckpointError, load_checkpoint

UNSAFE_ADVICE = ("weights_only=False", "set to `False`", "safe_globals", "trust", "file an issue")


class Payload:
    """Unpickling this runs `touch <marker>`: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def whole_module(path: Path, marker: Path) -> None:
    torch.save(torch.nn.Linear(4, 2), path)


def payload(path: Path, marker: Path) -> None:
    torch.save({"state_dict": torch.nn.Linear(4, 2).state_dict(), "extra": Payload(marker)}, path)


def protocol_4(path: Path, marker: Path) -> None:
    torch.save({"state_dict": {}, "extra": Payload(marker)}, path, pickle_protocol=4)


def legacy_format(path: Path, marker: Path) -> None:
    torch.save({"state_dict": {}, "extra": Payload(marker)}, path, _use_new_zipfile_serialization=False)


PICKLED: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "whole_module": (whole_module, "it names torch.nn.modules.linear.Linear"),
    "payload": (payload, "it names posix.system"),
    "protocol_4": (protocol_4, "its pickle is not one weights-only loading reads (Unsupported operand"),
    "legacy_format": (legacy_format, "it names posix.system"),
}


def refusal_is_safe(message: str) -> None:
    assert "refused" in message and "nothing in it was run" in message, message
    assert not [advice for advice in UNSAFE_ADVICE if advice in message], message
    assert "\n" not in message


@pytest.mark.parametrize("form", PICKLED)
def test_a_pickled_checkpoint_is_refused_without_torchs_advice(tmp_path: Path, form: str) -> None:
    make, named = PICKLED[form]
    marker, path = tmp_path / "payload_ran", tmp_path / f"{form}.ckpt"
    make(path, marker)
    with pytest.raises(pickle.UnpicklingError, match="weights_only"):  # what torch itself would have said
        torch.load(path, weights_only=True)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    refusal_is_safe(str(refused.value))
    assert str(refused.value).startswith(f"{path}: refused") and named in str(refused.value)

    wav = write_wav(tmp_path / "x.wav", np.zeros(1600), 16000)
    with pytest.raises(SystemExit) as enhance:
        enhance_main([str(wav), "-o", str(tmp_path / "out"), "--checkpoint", str(path)])
    refusal_is_safe(str(enhance.value.code))
    assert not marker.exists(), "the pickle payload ran"


@pytest.mark.slow
def test_eval_refuses_a_pickled_checkpoint_in_one_line(tmp_path: Path) -> None:
    marker, path = tmp_path / "payload_ran", tmp_path / "evil.ckpt"
    payload(path, marker)
    proc = evaluate(tmp_path, tmp_path, f"ckpt_path={path}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert line.startswith(f"Error: {path}: refused")
    refusal_is_safe(line)
    assert not marker.exists(), "the pickle payload ran"
