"""Reading, writing and resampling wav files, with errors that name the file.

torchaudio's own load/save need torchcodec and FFmpeg, which this project does not ship, so files go
through soundfile and only the resampler comes from torchaudio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


class AudioError(ValueError):
    """A wav file that cannot be used as it is; the message names the file and the problem."""


def read_wav(path: str | Path, *, mono: bool = True) -> tuple[np.ndarray, int]:
    """Return (float32 samples in [-1, 1], sample rate); reject what would silently corrupt a run."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for broken headers and truncated data
        raise AudioError(f"{path}: cannot be read as audio ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{path}: contains no samples")
    if data.shape[1] != 1:
        if mono:
            raise AudioError(f"{path}: has {data.shape[1]} channels, expected mono")
        data = data.mean(axis=1, keepdims=True)
    samples = data[:, 0]
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    return samples, int(sr)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM, clipping to [-1, 1] so that a loud enhancement cannot wrap around."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(
        str(path), np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0), sample_rate, subtype="PCM_16"
    )
    return path


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed sinc); a no-op when the rates agree."""
    if orig_sr == target_sr:
        return samples.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), orig_sr, target_sr)
    return out.numpy()


def load_resampled(path: str | Path, target_sr: int, *, mono: bool = True) -> np.ndarray:
    samples, sr = read_wav(path, mono=mono)
    return resample(samples, sr, target_sr)
