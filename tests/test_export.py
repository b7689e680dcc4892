"""Exported models must give the PyTorch model's output, at lengths other than the one traced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from rcnn_se.deploy.export import export_onnx, export_torchscript, main
from rcnn_se.training.system import EnhancementSystem


def test_checkpoint_round_trip(checkpoint: Path) -> None:
    system = EnhancementSystem.from_checkpoint(checkpoint)
    assert system.model.body[0].out_channels == 6 and system.compress == "log1p"


def test_torchscript_and_onnx_match_pytorch(checkpoint: Path, tmp_path: Path) -> None:
    system = EnhancementSystem.from_checkpoint(checkpoint)
    x = torch.rand(2, 1, 257, 101) * 5  # another batch size and length than traced
    with torch.no_grad():
        expected = system.enhancer()(x).numpy()
    scripted = torch.jit.load(str(export_torchscript(system, tmp_path / "m.pt")))
    np.testing.assert_allclose(scripted(x).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    session = ort.InferenceSession(
        str(export_onnx(system, tmp_path / "m.onnx")), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(None, {"noisy_magnitude": x.numpy()})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_export_cli_and_bad_checkpoint(checkpoint: Path, tmp_path: Path, capsys) -> None:
    assert main([str(checkpoint), "-o", str(tmp_path / "out")]) == 0
    assert {p.suffix for p in (tmp_path / "out").iterdir()} == {".pt", ".onnx"}
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exc:
        main([str(bogus), "-o", str(tmp_path / "out2")])
    assert exc.value.code == 1 and "bogus.ckpt: not a readable checkpoint" in capsys.readouterr().err
