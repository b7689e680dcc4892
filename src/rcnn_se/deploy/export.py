"""Export a trained enhancer to TorchScript and ONNX for deployment without this package.

What is exported is the whole magnitude path (`SpectralEnhancer`: compression, network, decompression,
gain bounds): noisy magnitude [B, 1, 257, T] -> enhanced magnitude, with batch and time dynamic. STFT and
phase stay with the caller, as they differ per platform.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rcnn_se.training.system import EnhancementSystem


def example_input(system: EnhancementSystem, frames: int = 64) -> torch.Tensor:
    return torch.rand(1, 1, system.stft_config.n_fft // 2 + 1, frames)


def export_torchscript(system: EnhancementSystem, path: str | Path) -> Path:
    """Traced rather than scripted: the path has no data-dependent control flow, and tracing keeps T dynamic
    for convolutions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        traced = torch.jit.trace(system.eval().enhancer(), example_input(system))
    traced.save(str(path))
    return path


def export_onnx(system: EnhancementSystem, path: str | Path, opset: int = 17) -> Path:
    """The TorchScript-based exporter (dynamo=False) needs no onnxscript and handles every layer used here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {0: "batch", 3: "frames"}
    torch.onnx.export(
        system.eval().enhancer(),
        (example_input(system),),
        str(path),
        dynamo=False,
        input_names=["noisy_magnitude"],
        output_names=["enhanced_magnitude"],
        dynamic_axes={"noisy_magnitude": axes, "enhanced_magnitude": axes},
        opset_version=opset,
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rcnn-se export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint written by train.py")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--format", choices=("torchscript", "onnx", "both"), default="both")
    args = parser.parse_args(argv)
    try:
        system = EnhancementSystem.from_checkpoint(args.checkpoint)
    except ValueError as exc:
        parser.exit(1, f"rcnn-se export: {exc}\n")
    stem = args.checkpoint.stem
    if args.format in ("torchscript", "both"):
        print(export_torchscript(system, args.out / f"{stem}.pt"))
    if args.format in ("onnx", "both"):
        print(export_onnx(system, args.out / f"{stem}.onnx"))
    return 0
