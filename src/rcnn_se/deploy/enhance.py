"""`rcnn-se enhance`: denoise wav files with a trained model: a checkpoint file, an MLflow run or model.

Any mono wav at any sample rate: it is resampled to the model's rate, enhanced with the noisy phase, and
resampled back, so the output has the input's rate and length. The network runs through `fast_enhancer`: in
blocks of frames with enough context on both sides to cover its receptive field, so memory stays bounded,
the result equals processing the whole file at once, and it runs 1.6-2x faster in fp32 (more in bf16/int8).
Files longer than `--block-seconds` (30 s) are streamed: read, enhanced and written a block at a time, with
each stage's context (`rcnn_se.deploy.streaming`), so memory is flat in the file's length and the output
equals the whole-file path's to float rounding (under 1e-5 in fp32; bf16 and int8 to within their own
rounding, not promised bit for bit). Each file's line gives its length, the wall time from reading to the
written file, the real-time factor and the process's peak memory so far.
End to end, file in to file out, one thread: RTF 0.025-0.032 in int8, 0.052-0.066 in bf16, 0.17-0.19 in
fp32 (48 kHz demo test files on an idle 2-core Intel Xeon with AMX, two runs on 2026-12-03; `make bench`,
part c, gives the figures and their conditions for the machine at hand).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rcnn_se.data.audio import AudioError, read_wav, resample
from rcnn_se.data.features import StftConfig, stft
from rcnn_se.deploy.enhance_paths import output_paths, overwritten_inputs
from rcnn_se.deploy.inference import PRECISIONS, fast_enhancer
from rcnn_se.deploy.streaming import DEFAULT_BLOCK_SECONDS, WavSignal, enhance_file
from rcnn_se.tracking.store import default_tracking_uri
from rcnn_se.training.system import EnhancementSystem, SpectralEnhancer


def calibration_spectra(paths: list[Path], cfg: StftConfig, seconds: float = 30.0) -> list[torch.Tensor]:
    """Noisy magnitudes of the inputs themselves, up to `seconds` in all: int8 ranges fitted to the material
    being enhanced, read from the start of each file only (an hour-long input costs `seconds` of audio).
    Unreadable files are left to the main loop, which reports them."""
    spectra, left = [], seconds
    for path in paths:
        if left <= 0:
            break
        try:
            with WavSignal(path) as wav:
                sr, length = wav.sample_rate, wav.length
                samples = wav.read(0, min(length, int(left * sr)))
        except AudioError:
            continue
        wave = torch.from_numpy(resample(samples, sr, cfg.sample_rate))
        spectra.append(stft(wave, cfg).abs()[None, None])
        left -= length / sr
    return spectra


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (10^6 bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # bytes on macOS, KiB elsewhere


def checkpoint_from_run(run_id: str, tracking_uri: str, folder: Path) -> Path:
    """Download the checkpoint a training run logged (baseline runs have none); a missing store or run is
    an error naming the store searched, and no empty store is created."""
    from rcnn_se.tracking.store import get_run

    client, _ = get_run(tracking_uri, run_id)
    files = [a.path for a in client.list_artifacts(run_id, "checkpoints") if a.path.endswith(".ckpt")]
    if not files:
        raise ValueError(
            f"run {run_id}: has no checkpoint artifact (a baseline, or a run that did not finish)"
        )
    return Path(client.download_artifacts(run_id, files[0], str(folder)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rcnn-se enhance", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="mono audio files, any sample rate")
    parser.add_argument(
        "-o", "--out", type=Path, required=True, help="folder for <name>_enhanced.wav (see enhance_paths)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a checkpoint written by train.py")
    source.add_argument("--run-id", help="an MLflow run of train.py; its logged checkpoint is used")
    source.add_argument("--model", help="a logged or registered MLflow model: runs:/ID/model, models:/NAME/1")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow store of --run-id or --model (default: $RCNN_SE_TRACKING_URI, else the project's)",
    )
    parser.add_argument(
        "--block-frames", type=int, default=128, help="frames per network pass (speed and memory)"
    )
    parser.add_argument(
        "--block-seconds",
        type=float,
        default=DEFAULT_BLOCK_SECONDS,
        help="files longer than this are read, enhanced and written this many seconds at a time, in memory "
        f"that does not grow with their length (default {DEFAULT_BLOCK_SECONDS:g}; 0: every file whole)",
    )
    parser.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default="fp32",
        help="bf16 (AMX/AVX512-BF16 CPUs) and int8 (calibrated on the inputs) run several times faster, "
        "at 2-3 significant digits",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="allow an output to replace an input file of the same path"
    )
    args = parser.parse_args(argv)
    if not args.block_seconds >= 0 or args.block_seconds == float("inf"):
        parser.exit(2, f"rcnn-se enhance: --block-seconds {args.block_seconds}: expected seconds >= 0\n")
    if args.out.exists() and not args.out.is_dir():
        parser.exit(2, f"rcnn-se enhance: -o {args.out}: exists and is not a folder\n")
    args.targets = output_paths(args.inputs, args.out)
    clobbered = overwritten_inputs(args.targets)
    if clobbered and not args.overwrite:
        parser.exit(
            2,
            f"rcnn-se enhance: {clobbered[0]}: an output would overwrite this input; nothing was written "
            "(choose another -o, or pass --overwrite)\n",
        )
    return args


def load_enhancer(args: argparse.Namespace) -> tuple[SpectralEnhancer, StftConfig]:
    """The chosen model's fast enhancer and the STFT settings it was trained with."""
    uri = args.tracking_uri or default_tracking_uri()
    if args.model:
        from rcnn_se.deploy.pyfunc_model import checkpoint_from_model

        ckpt = checkpoint_from_model(args.model, uri, args.out / ".model")
    else:
        ckpt = args.checkpoint or checkpoint_from_run(args.run_id, uri, args.out / ".checkpoint")
    system = EnhancementSystem.from_checkpoint(ckpt)
    calibration = None
    if args.precision == "int8":
        calibration = calibration_spectra(list(args.targets), system.stft_config)
        if not calibration:
            raise ValueError("--precision int8 calibrates on the inputs, and none of them can be read")
    enhancer = fast_enhancer(
        system, precision=args.precision, block_frames=args.block_frames, calibration=calibration
    )
    return enhancer, system.stft_config


def main(argv: list[str] | None = None) -> int:
    """Enhance every input, whatever happens to the others; exit 1 with a list of the failures if any."""
    args = parse_args(argv)
    try:
        enhancer, stft_config = load_enhancer(args)
    except ValueError as exc:
        raise SystemExit(f"rcnn-se enhance: {exc}") from None
    # Inputs that an output replaces (--overwrite) are read before anything is written.
    preread: dict[Path, tuple[np.ndarray, int] | AudioError] = {}
    for path in overwritten_inputs(args.targets):
        try:
            preread[path] = read_wav(path)
        except AudioError as exc:
            preread[path] = exc
    failures: list[str] = []
    for path, target in args.targets.items():
        try:
            start = time.perf_counter()
            got = preread.pop(path, None) or path
            if isinstance(got, AudioError):
                raise got
            done = enhance_file(enhancer, got, target, stft_config, block_seconds=args.block_seconds)
            elapsed = time.perf_counter() - start
            blocks = f", {done.blocks} blocks" if done.blocks > 1 else ""
            print(
                f"{path} ({done.seconds:.1f} s, {done.sample_rate} Hz) -> {target}  {elapsed:.1f} s, "
                f"RTF {elapsed / done.seconds:.3f}, peak RSS {peak_rss_mb():.0f} MB{blocks}",
                flush=True,
            )
        except Exception as exc:  # one bad file must never cost the others
            message = str(exc) if isinstance(exc, AudioError) else f"{path}: {type(exc).__name__}: {exc}"
            failures.append(message.splitlines()[0])
            print(f"rcnn-se enhance: failed {failures[-1]}", file=sys.stderr)
    if failures:
        print(f"rcnn-se enhance: {len(failures)} of {len(args.targets)} files failed:", file=sys.stderr)
        print("\n".join(f"  {line}" for line in failures), file=sys.stderr)
    return 1 if failures else 0
