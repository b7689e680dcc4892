"""The console script as a user types it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "rcnn-se"


def rcnn_se(*args: str) -> subprocess.CompletedProcess:
    cmd = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "rcnn_se.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)


def test_help_lists_commands_and_unknown_command_fails() -> None:
    out = rcnn_se("--help")
    assert out.returncode == 0
    for command in ("make-demo-corpus", "paper-tables", "enhance", "export", "evaluate"):
        assert command in out.stdout
    bad = rcnn_se("frobnicate")
    assert bad.returncode == 2 and "unknown command 'frobnicate'" in bad.stderr


@pytest.mark.slow
def test_make_demo_corpus_and_refuse_foreign_folder(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    out = rcnn_se("make-demo-corpus", "--root", str(root), "--train-speakers", "1", "--test-speakers", "1",
                  "--train-per-speaker", "5", "--sample-rate", "16000")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len((root / "log_trainset_28spk.txt").read_text().splitlines()) == 5
    assert len(list((root / "noisy_trainset_28spk_wav").glob("*.wav"))) == 5
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    bad = rcnn_se("make-demo-corpus", "--root", str(foreign))
    assert bad.returncode == 1 and "is not a demo corpus" in bad.stderr
    assert (foreign / "thesis.tex").read_text() == "precious"
