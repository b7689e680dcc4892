"""Inference real-time factor end to end, as `rcnn-se enhance` does it, with the network alone beside it.

End to end is everything a user waits for per file: read the wav → resample to 16 kHz → STFT → network →
ISTFT with the noisy phase → resample back → write the wav. Network-only times `fast_enhancer` on magnitudes
computed beforehand: a figure about the model, not about enhancing a file, and labelled so. Both run on the
demo corpus's noisy test files (48 kHz, as VoiceBank-DEMAND ships them), in fp32, bf16 and int8, on one
thread and on every core.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch
from inference_net import noisy_spectra
from peak import Peaks

from rcnn_se.cpu import bf16_is_native
from rcnn_se.data.audio import read_wav, write_wav
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig
from rcnn_se.deploy.inference import enhance_recording, fast_enhancer
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.macs import forward_macs
from rcnn_se.training.system import EnhancementSystem, SpectralEnhancer


def end_to_end_seconds(
    enhancer: SpectralEnhancer, cfg: StftConfig, paths: list[Path], out_dir: Path
) -> float:
    """Wall time to enhance every file from disk to disk."""
    start = time.perf_counter()
    for path in paths:
        samples, sr = read_wav(path)
        write_wav(out_dir / path.name, enhance_recording(enhancer, samples, sr, cfg), sr)
    return time.perf_counter() - start


def network_seconds(enhancer: SpectralEnhancer, magnitudes: list[torch.Tensor]) -> float:
    """Wall time of the network path alone (compress → network → gain bounds) on precomputed magnitudes."""
    start = time.perf_counter()
    for mag in magnitudes:
        enhancer(mag)
    return time.perf_counter() - start


def bench_inference_e2e(corpus: Path, peaks: Peaks, n_files: int = 40) -> None:
    """Print RTF end to end and network-only per precision and thread count, best of 3 runs each.

    The network's GMAC/s is reported against the fp32 or bf16 matmul peak on the same threads (int8's
    against bf16's, the fastest float rate, for want of an int8 matmul peak).
    """
    paths = [u.noisy_path for u in scan_split(corpus, "test")[:n_files]]
    audio_seconds = sum(sf.info(str(p)).duration for p in paths)
    system = EnhancementSystem(SpectralCNN()).eval()  # untrained weights run exactly as fast as trained ones
    cfg = system.stft_config
    magnitudes = noisy_spectra(corpus, "test", n_files, cfg)
    macs = sum(forward_macs(system.model, m.shape[-2], m.shape[-1]) for m in magnitudes)
    calibration = noisy_spectra(corpus, "train", 8, cfg)
    label = {"fp32": "fp32", "bf16": "bf16" if bf16_is_native() else "bf16 (emulated)", "int8": "int8"}
    before = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for threads in sorted({1, os.cpu_count() or 1}):
                torch.set_num_threads(threads)
                for precision in ("fp32", "bf16", "int8"):
                    enhancer = fast_enhancer(system, precision=precision, calibration=calibration)
                    e2e = min(end_to_end_seconds(enhancer, cfg, paths, Path(tmp)) for _ in range(3))
                    net = min(network_seconds(enhancer, magnitudes) for _ in range(3))
                    peak = peaks.measure("fp32" if precision == "fp32" else "bf16")
                    print(
                        f"(c) inference, {threads} thread(s), {label[precision]:<15} "
                        f"end-to-end RTF {e2e / audio_seconds:.4f} | network-only RTF "
                        f"{net / audio_seconds:.4f} ({macs / net / 1e9:.1f} GMAC/s = "
                        f"{macs / net / 1e9 / peak:.0%} of the {'fp32' if precision == 'fp32' else 'bf16'} "
                        f"peak) | rest of the path {(e2e - net) / audio_seconds:.4f}"
                    )
    finally:
        torch.set_num_threads(before)
    print(
        f"(c) conditions: {len(paths)} noisy test files of the demo corpus, {audio_seconds:.1f} s of 48 kHz "
        "audio, untrained paper RCNN (timing does not depend on the weights), best of 3; end to end = read "
        "wav, resample to 16 kHz, STFT, network, ISTFT, resample back, write wav (goal: int8 <= 0.02 on one "
        "thread)"
    )
