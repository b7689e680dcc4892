"""Reading, writing and resampling wav files, with errors that name the file.

torchaudio's own load/save need torchcodec and FFmpeg, which this project does not ship, so files go
through soundfile and only the resampler comes from torchaudio.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from itertools import chain
from pathlib import Path

import numpy as np
import soundfile as sf

from rcnn_se.errors import UserError

MAX_RATIO_TERM = 1000  # largest term of a resampling ratio kept exact (see resample)


class AudioError(UserError):
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
    promised = wav_data_frames(path)
    if promised is not None and promised > data.shape[0]:
        raise AudioError(
            f"{path}: truncated, its header promises {promised} frames but the file holds {data.shape[0]}"
        )
    if data.shape[1] != 1:
        if mono:
            raise AudioError(f"{path}: has {data.shape[1]} channels, expected mono")
        data = data.mean(axis=1, keepdims=True)
    samples = data[:, 0]
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    return samples, int(sr)


def wav_data_frames(path: Path) -> int | None:
    """Frames a RIFF/WAVE header promises in its data chunk; None for other formats and for headers that
    leave the size open (streaming writers). libsndfile silently reads a truncated wav up to where it ends,
    so a file cut short by a failed copy would otherwise pass as a shorter recording."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = 0
        while chunk := f.read(8):
            if len(chunk) < 8:
                return None
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"data":
                return size // block_align if block_align and size not in (0, 0xFFFFFFFF) else None
            body = f.read(size + (size & 1))
            if kind == b"fmt " and len(body) >= 14:
                block_align = struct.unpack("<H", body[12:14])[0]
    return None


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM, clipping to [-1, 1] so that a loud enhancement cannot wrap around (see
    `write_wav_blocks`, which this is for one block)."""
    write_wav_blocks(path, [samples], sample_rate)
    return Path(path)


def write_wav_blocks(path: str | Path, blocks: Iterable[np.ndarray], sample_rate: int) -> int:
    """Write 16-bit PCM a block at a time (a long recording never whole in memory), each clipped to
    [-1, 1], with the first block's channels (a 1-D block is mono); returns the number of blocks.

    Written to a temporary file beside the target and renamed over it: a crash, a full disk or a failing
    block mid-write leaves the old file (or none), never a half-written one under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    blocks, count = iter(blocks), 0
    try:
        first = next(blocks, None)  # inside the try: making a block may fail, and the file goes with it
        head = [] if first is None else [_clipped(first)]
        channels = head[0].shape[1] if head and head[0].ndim == 2 else 1
        with sf.SoundFile(
            temporary, "w", samplerate=sample_rate, channels=channels, subtype="PCM_16", format="WAV"
        ) as out:
            for block in chain(head, map(_clipped, blocks)):
                out.write(block)
                count += 1
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def _clipped(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)


def as_written(samples: np.ndarray) -> np.ndarray:
    """The samples exactly as `write_wav` stores them and `read_wav` reads them back (clipped, 16-bit).

    Scores are taken on this, not on the float output: they then hold for the files a user gets. A network
    without a gain floor can output speech pauses far under one 16-bit step, which the file turns into
    digital silence, and frame-based measures (LLR, hence CSIG and COVL) score such frames very
    differently (up to 0.6 CSIG on one utterance). The round trip goes through soundfile itself, so its
    rounding is the file's, not an imitation of it.
    """
    buffer = io.BytesIO()
    sf.write(buffer, _clipped(samples), 16000, subtype="PCM_16", format="WAV")
    buffer.seek(0)
    return sf.read(buffer, dtype="float32")[0]


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed sinc); a no-op when the rates agree.

    The sinc kernel has one phase per step of the reduced ratio: 11127 -> 16000 Hz (a rate found in Debian's
    sound effects) needs 16,000 phases and took 10 s for 2 s of audio. A ratio whose reduced terms exceed
    MAX_RATIO_TERM is replaced by the nearest one within that bound, off by under 1e-5 (a pitch shift far
    below what anyone hears; the output's length follows the exact rate)."""
    if orig_sr == target_sr:
        return samples.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional as AF

    ratio = Fraction(target_sr, orig_sr)
    if max(ratio.numerator, ratio.denominator) > MAX_RATIO_TERM:
        ratio = ratio.limit_denominator(MAX_RATIO_TERM)
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    out = AF.resample(x, ratio.denominator, ratio.numerator).numpy()
    n = int(np.ceil(len(samples) * target_sr / orig_sr))
    return out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))


def load_resampled(path: str | Path, target_sr: int, *, mono: bool = True) -> np.ndarray:
    samples, sr = read_wav(path, mono=mono)
    return resample(samples, sr, target_sr)
