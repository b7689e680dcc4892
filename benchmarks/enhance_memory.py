"""Peak memory and speed of `rcnn-se enhance` on a long and a short file: is memory flat in the length?

    python benchmarks/enhance_memory.py [--checkpoint CKPT] [--precision fp32] [--threads 1]
        [--long-seconds 600] [--short-seconds 5] [--rate 48000] [--block-seconds 30] [--whole]

Writes a 10-minute and a 5-second 48 kHz wav (one second of tone and noise, tiled: written block by block,
so this script holds neither), enhances each in a fresh `rcnn-se enhance` process and prints, per file, the
child's peak RSS (the kernel's account of it, wait4's rusage: everything the process ever held, model and
libraries included), the process's wall time, and the real-time factor `rcnn-se enhance` prints itself
(reading to written file, model loading excluded); then the ratio of the two peaks, the CPU model name and
the conditions. Issue 23 asks for the long file within 1.2x of the short one's peak. `--whole` also runs
the long file whole (`--block-seconds 0`, the path before blocks: about 1.7 MB per second of 48 kHz audio).
Without `--checkpoint` the model is the paper's RCNN (54 channels, 5x5, 4 layers) with untrained weights,
which run exactly as fast as trained ones.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from peak import cpu_model

from rcnn_se.data.audio import write_wav_blocks


def write_tiled(path: Path, seconds: int, sr: int) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    second = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(sr)).astype(np.float32)
    write_wav_blocks(path, (second for _ in range(seconds)), sr)
    return path


def paper_checkpoint(path: Path) -> Path:
    import torch

    from rcnn_se.deploy.pyfunc_model import save_weights
    from rcnn_se.models.spectral_cnn import SpectralCNN
    from rcnn_se.training.system import EnhancementSystem

    torch.manual_seed(0)
    config = {"_target_": "rcnn_se.models.spectral_cnn.SpectralCNN"}
    return save_weights(EnhancementSystem(SpectralCNN(), model_config=config), path)


def run(cmd: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    """(peak RSS in bytes, wall seconds, output) of a fresh child process."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{text}")
    return usage.ru_maxrss * 1024, wall, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="default: the paper's RCNN, untrained")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the child (OMP_NUM_THREADS)")
    parser.add_argument("--long-seconds", type=int, default=600)
    parser.add_argument("--short-seconds", type=int, default=5)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--block-seconds", type=float, help="passed on; default: rcnn-se enhance's own")
    parser.add_argument("--whole", action="store_true", help="also the long file whole (--block-seconds 0)")
    args = parser.parse_args()

    exe = str(Path(sys.executable).parent / "rcnn-se")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = args.checkpoint or paper_checkpoint(folder / "rcnn.ckpt")
        files = {
            "short": write_tiled(folder / "short.wav", args.short_seconds, args.rate),
            "long": write_tiled(folder / "long.wav", args.long_seconds, args.rate),
        }
        runs = [("short", files["short"], args.block_seconds), ("long", files["long"], args.block_seconds)]
        if args.whole:
            runs.append(("long, whole", files["long"], 0.0))
        print(f"CPU: {cpu_model()} ({os.cpu_count()} cores), {args.threads} thread(s), {args.precision}")
        model = checkpoint if args.checkpoint else "the paper's RCNN, untrained"
        print(f"model: {model}; input: {args.rate} Hz 16-bit wav")
        peaks: dict[str, int] = {}
        for name, wav, block in runs:
            cmd = [exe, "enhance", str(wav), "-o", str(folder / "out"), "--checkpoint", str(checkpoint),
                   "--precision", args.precision]  # fmt: skip
            if block is not None:
                cmd += ["--block-seconds", f"{block:g}"]
            peak, wall, text = run(cmd, env)
            peaks[name] = peak
            found = re.search(r"\(([\d.]+) s, \d+ Hz\) -> .*?([\d.]+) s, RTF ([\d.]+)", text)
            seconds, enhance_wall, rtf = (float(g) for g in found.groups()) if found else (0.0, 0.0, 0.0)
            blocks = re.search(r", (\d+) blocks", text)
            print(
                f"{name:>12}: {seconds:7.1f} s of audio  peak RSS {peak / 1e6:7.0f} MB  RTF {rtf:.3f} "
                f"({enhance_wall:.1f} s; process {wall:.1f} s with start-up and model loading)  "
                f"{blocks.group(1) + ' blocks' if blocks else 'whole'}"
            )
        ratio = peaks["long"] / peaks["short"]
        print(f"peak RSS long / short: {ratio:.3f} (issue 23: at most 1.2)")
        if "long, whole" in peaks:
            print(f"peak RSS whole / streamed for the long file: {peaks['long, whole'] / peaks['long']:.2f}")


if __name__ == "__main__":
    main()
