"""Nothing in a checkpoint or a config runs code: pickle payloads, foreign `_target_`s in a checkpoint's
model_config, and `_target_` overrides on the command line are refused before anything executes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.audio import speechlike
from helpers.jobs import ROOT
from rcnn_se.data.audio import write_wav
from rcnn_se.deploy.enhance import main as enhance_main
from rcnn_se.training.checkpoints import CheckpointError, load_checkpoint
from rcnn_se.training.safety import UnsafeTargetError, check_command_line, check_config_targets
from rcnn_se.training.system import EnhancementSystem


class Payload:
    """Unpickling this runs `touch <marker>`: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_in_checkpoint_is_refused_and_not_run(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    marker = tmp_path / "payload_ran"
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["extra"] = Payload(marker)
    evil = tmp_path / "evil.ckpt"
    torch.save(ckpt, evil)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused.*nothing in it was run.*system"):
        EnhancementSystem.from_checkpoint(evil)
    wav = tmp_path / "x.wav"
    write_wav(wav, speechlike(0.3, 16000), 16000)
    with pytest.raises(SystemExit, match="refused"):
        enhance_main([str(wav), "-o", str(tmp_path / "o"), "--checkpoint", str(evil)])
    assert not marker.exists(), "the pickle payload ran"
    assert not (tmp_path / "o" / "x_enhanced.wav").exists()


@pytest.mark.parametrize(
    "target",
    [
        "builtins.open",
        "os.system",
        "torch.hub.load",
        "rcnn_se.deploy.enhance.main",
        "rcnn_se.models.nosuch.X",
    ],
)
def test_foreign_model_target_is_refused_before_anything_runs(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    target: str,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["model_config"] = {"_target_": target, "file": str(victim), "mode": "w"}
    bad = tmp_path / "bad.ckpt"
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match=r"bad\.ckpt: model_config\._target_=.*(refused|no such model)"):
        EnhancementSystem.from_checkpoint(bad)
    assert victim.read_text() == "precious"


def test_nested_target_in_model_config_is_refused(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["model_config"]["activation"] = {"_target_": "builtins.open", "file": "x"}
    torch.save(ckpt, tmp_path / "nested.ckpt")
    with pytest.raises(UnsafeTargetError, match="nested _target_ activation._target_"):
        EnhancementSystem.from_checkpoint(tmp_path / "nested.ckpt")


def test_truncated_checkpoint_is_one_clear_error(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(checkpoint.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt: not a readable checkpoint"):
        load_checkpoint(cut)


def test_config_targets_allow_the_project_and_refuse_the_rest(monkeypatch) -> None:
    check_config_targets(
        {
            "trainer": {"_target_": "lightning.Trainer"},
            "optimizer": {"_target_": "torch.optim.Adam"},
            "callbacks": {"ckpt": {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint"}},
            "model": {"_target_": "rcnn_se.models.spectral_cnn.SpectralCNN"},
        }
    )
    with pytest.raises(UnsafeTargetError, match=r"callbacks\.evil\._target_='builtins\.open': refused"):
        check_config_targets({"callbacks": {"evil": {"_target_": "builtins.open"}}})
    with pytest.raises(UnsafeTargetError, match="torch.hub.load"):
        check_config_targets({"x": [{"_target_": "torch.hub.load"}]})
    monkeypatch.setenv("RCNN_SE_TRUSTED_TARGETS", "mycallbacks.")
    check_config_targets({"callbacks": {"mine": {"_target_": "mycallbacks.Mine"}}})


def test_command_line_targets_are_checked_sweeps_included() -> None:
    check_command_line(["-m", "model=rcnn,cnn", "+callbacks.k._target_=lightning.pytorch.callbacks.Timer"])
    check_command_line(["hydra/launcher=slurm", "+hydra.launcher._target_=hydra_plugins.x.Launcher"])
    with pytest.raises(UnsafeTargetError, match="os.system"):
        check_command_line(["-m", "+callbacks.k._target_=lightning.pytorch.callbacks.Timer,os.system"])
    with pytest.raises(UnsafeTargetError, match=r"hydra\.callbacks\.evil\._target_='builtins\.open'"):
        check_command_line(["+hydra.callbacks.evil={_target_:builtins.open,file:x,mode:w}"])
    with pytest.raises(UnsafeTargetError, match="hydra_plugins"):  # only under hydra.*
        check_command_line(["+callbacks.k._target_=hydra_plugins.x.Y"])


@pytest.mark.parametrize("key", ["callbacks", "hydra.callbacks"])
def test_train_refuses_foreign_target_override_and_runs_nothing(tmp_path: Path, key: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    env = {**os.environ, "RCNN_SE_ROOT": str(tmp_path)}
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            f"+{key}.evil={{_target_:builtins.open,file:{victim},mode:w}}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and f"{key}.evil._target_='builtins.open': refused" in proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - start < 30
    assert victim.read_text() == "precious"
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "mlruns").exists()
