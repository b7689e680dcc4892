"""`python train.py` and `python eval.py` run as a user runs them: a subprocess with its own project root,
on a tiny demo setting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
BIN = Path(sys.executable).parent / "rcnn-se"
TINY = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "data.demo.n_train_speakers=3",
    "data.demo.n_test_speakers=1",
    "data.demo.sample_rate=16000",
    "data.source_sample_rate=16000",
    "data.segment_frames=16",
    "model.channels=8",
    "evaluate.max_utterances=4",
    "evaluate.workers=2",
    "evaluate.n_audio_examples=1",
    "callbacks.rich_progress_bar=null",
]

# The first sweep a user runs, with everything a job can log turned on (tests/conftest.py: headline_sweep).
HEADLINE = [
    "-m",
    "model=rcnn,cnn",
    "dropout=0,0.2",
    "logger.mlflow.register_as=tiny_rcnn",
    "logger.mlflow.system_metrics_interval=1",
    "callbacks.progress_lines.every_n_steps=1",
]


def train_command(tmp: Path, *args: str, pythonpath: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `python train.py ARGS` run from `tmp` as its project root."""
    env = {**os.environ, "RCNN_SE_ROOT": str(tmp), "PYTHONUNBUFFERED": "1"}
    if pythonpath is not None:  # the tests' own callbacks (killer.py), trusted as a user's module would be
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
        env["RCNN_SE_TRUSTED_TARGETS"] = "killer."
    cmd = [sys.executable, str(ROOT / "train.py"), *args, f"paths.data_dir={os.environ['RCNN_SE_TEST_DATA']}"]
    return cmd, env


def ctrl_c_as_in_a_terminal() -> None:
    """A job started from a background shell (`cmd &`, as some CI runners start the suite) inherits SIGINT
    ignored, and Python then never raises KeyboardInterrupt: the Ctrl-C tests would train on through their
    interrupt. A user's terminal delivers it, so the jobs get the default disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def train(
    tmp: Path,
    *args: str,
    check: bool = True,
    pythonpath: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    cmd, base = train_command(tmp, *args, pythonpath=pythonpath)
    proc = subprocess.run(
        cmd,
        cwd=tmp,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"train.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def evaluate(tmp: Path, cwd: Path, *args: str, console: bool = False) -> subprocess.CompletedProcess:
    """`python eval.py ARGS` (or `rcnn-se evaluate ARGS`) run from `cwd` with `tmp` as its project root."""
    env = {**os.environ, "RCNN_SE_ROOT": str(tmp), "PYTHONUNBUFFERED": "1"}
    env.pop("RCNN_SE_TRACKING_URI", None)
    entry = ([str(BIN)] if BIN.exists() else [sys.executable, "-m", "rcnn_se.cli"]) + ["evaluate"]
    cmd = (entry if console else [sys.executable, str(ROOT / "eval.py")]) + [
        *args,
        "evaluate.workers=0",
        f"paths.data_dir={os.environ['RCNN_SE_TEST_DATA']}",
    ]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def tiny_except(*prefixes: str) -> list[str]:
    """The TINY overrides minus those a test sets itself."""
    return [o for o in TINY if not o.startswith(prefixes)]
