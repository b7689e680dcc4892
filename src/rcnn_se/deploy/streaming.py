"""Enhancing long recordings in bounded memory: block by block, streamed from and to disk.

`rcnn-se enhance` and the MLflow model hold a short recording whole (`enhance_recording`); one longer than
`block_seconds` (default 30 s) goes through the same path one block of output at a time, so memory is that
of one block whatever the recording's length. Each block is pulled through the chain backwards, every stage
asking the one before it for exactly the span it needs plus that stage's context:

    output block at the file's rate  <- resample 16 kHz -> rate   (the sinc kernel's half-width, in whole
                                                                   periods of the resampler)
    enhanced 16 kHz samples          <- ISTFT with the noisy phase (every frame whose window overlaps them)
    enhanced frames                  <- the network               (its receptive field: `receptive_context`,
                                                                   from its layers, frames each side)
    noisy frames                     <- STFT                      (each frame's full window)
    16 kHz samples                   <- resample rate -> 16 kHz   (the sinc kernel again)
    input samples at the file's rate <- the file, read from disk at an offset

A stage at the recording's start or end sees the same edge (zeros for the resampler and the network's
'same' padding, reflection for the STFT) as the whole recording does, so every output sample is computed
from the same inputs by the same arithmetic as `enhance_recording`'s: blocks equal the whole-file path up
to float rounding (max abs difference under 1e-5 in fp32, 1e-7 to 7e-7 seen; `tests/test_streaming.py`),
and the output has the same length and rate. bf16 and int8 are blocked too. Their blocks are not promised
to the last bit: oneDNN may round a convolution differently by the shape it is given, which here depends on
where the network's blocks of frames start (`BlockedNetwork` already splits every file so). On a 2-core AMD
EPYC they equalled their own whole-file output to 1.5e-7, against 3e-3 (bf16) and 7e-4 (int8) between
them and fp32; the test asks for under 1e-5 and a tenth of that difference.

Recomputed context is small: the paper's RCNN reaches 8 frames each side (4 layers x (5 - 1) / 2), read
with one spare frame, 72 ms at each edge of a 30 s block.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf
import torch

from rcnn_se.data.audio import (
    MAX_RATIO_TERM,
    AudioError,
    read_wav,
    wav_data_frames,
    write_wav,
    write_wav_blocks,
)
from rcnn_se.data.features import StftConfig, istft, stft, with_phase_of
from rcnn_se.deploy.inference import BlockedNetwork, blockable, enhance_recording, receptive_context
from rcnn_se.training.system import SpectralEnhancer

DEFAULT_BLOCK_SECONDS = 30.0
# torchaudio.functional.resample's defaults, which `rcnn_se.data.audio.resample` uses: zero crossings of the
# sinc on each side and the low-pass's roll-off. They set the kernel's half-width (`resampler_reach`).
LOWPASS_FILTER_WIDTH, ROLLOFF = 6, 0.99


class Signal(Protocol):
    """A mono signal of known `length` whose samples [lo, hi) can be read in any order."""

    length: int

    def read(self, lo: int, hi: int) -> np.ndarray: ...


class ArraySignal:
    """Samples already in memory (the MLflow model's input, an input read before its file is replaced)."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples, self.length = samples, len(samples)

    def read(self, lo: int, hi: int) -> np.ndarray:
        return np.asarray(self.samples[lo:hi], dtype=np.float32)


class WavSignal:
    """An audio file read at an offset per request, with `read_wav`'s checks (the same messages): readable,
    not empty, not truncated, mono, finite samples (checked in each block read)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AudioError(f"{self.path}: file not found")
        try:
            self.file = sf.SoundFile(str(self.path))
        except Exception as exc:  # soundfile raises several types for broken headers
            raise AudioError(f"{self.path}: cannot be read as audio ({exc})") from exc
        self.length, self.sample_rate = int(self.file.frames), int(self.file.samplerate)
        if self.length == 0:
            self.close()
            raise AudioError(f"{self.path}: contains no samples")
        promised = wav_data_frames(self.path)
        if promised is not None and promised > self.length:
            self.close()
            raise AudioError(
                f"{self.path}: truncated, its header promises {promised} frames but the file holds "
                f"{self.length}"
            )
        if self.file.channels != 1:
            self.close()
            raise AudioError(f"{self.path}: has {self.file.channels} channels, expected mono")

    def read(self, lo: int, hi: int) -> np.ndarray:
        try:
            self.file.seek(lo)
            data = self.file.read(hi - lo, dtype="float32", always_2d=True)[:, 0]
        except Exception as exc:
            raise AudioError(f"{self.path}: cannot be read as audio ({exc})") from exc
        if len(data) != hi - lo:
            raise AudioError(f"{self.path}: truncated, it ends at frame {lo + len(data)} of {self.length}")
        if not np.all(np.isfinite(data)):
            raise AudioError(f"{self.path}: contains NaN or infinite samples")
        return data

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> WavSignal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resampler_grid(orig_sr: int, target_sr: int) -> tuple[int, int]:
    """(input samples, output samples) of one period of `resample`'s kernel: the reduced ratio of the
    rates, or the nearest ratio with terms up to MAX_RATIO_TERM, as `resample` chooses it."""
    ratio = Fraction(target_sr, orig_sr)
    if max(ratio.numerator, ratio.denominator) > MAX_RATIO_TERM:
        ratio = ratio.limit_denominator(MAX_RATIO_TERM)
    return ratio.denominator, ratio.numerator


def resampler_reach(orig: int, new: int) -> int:
    """Input samples the windowed-sinc kernel reaches on each side of a period (torchaudio's `width`)."""
    return math.ceil(LOWPASS_FILTER_WIDTH * orig / (min(orig, new) * ROLLOFF))


class Resampled:
    """`resample(source, orig_sr, target_sr)` of the whole source, computed for the span asked for.

    Output period j (`new` samples) is the kernel applied to the input around period j (`orig` samples,
    plus `resampler_reach` each side; zeros beyond the source's ends). A span is computed by `resample`'s
    own sinc on a slice of the source that starts on a period and reaches whole periods past the kernel's
    half-width (one more for safety) on both sides, or the source's end, whose zeros are the same as the
    whole source's."""

    def __init__(self, source: Signal, orig_sr: int, target_sr: int) -> None:
        self.source, self.orig_sr, self.target_sr = source, orig_sr, target_sr
        self.orig, self.new = resampler_grid(orig_sr, target_sr)
        self.margin = -(-resampler_reach(self.orig, self.new) // self.orig) + 1  # periods each side
        # `resample` keeps torchaudio's output up to the exact rate's length, padded with zeros beyond it
        self.computed = -(-self.new * source.length // self.orig)
        self.length = -(-source.length * target_sr // orig_sr) if orig_sr != target_sr else source.length

    def read(self, lo: int, hi: int) -> np.ndarray:
        if self.orig_sr == self.target_sr:
            return self.source.read(lo, hi)
        import torchaudio.functional as AF

        out = np.zeros(hi - lo, dtype=np.float32)
        stop = min(hi, self.computed)
        if lo >= stop:
            return out
        first, last = lo // self.new, -(-stop // self.new)  # periods of output needed
        start = max(0, (first - self.margin) * self.orig)
        end = min(self.source.length, (last + self.margin) * self.orig)
        piece = torch.from_numpy(np.ascontiguousarray(self.source.read(start, end), dtype=np.float32))
        offset = start // self.orig * self.new  # output index of the slice's first sample
        resampled = AF.resample(piece, self.orig, self.new).numpy()
        out[: stop - lo] = resampled[lo - offset : stop - offset]
        return out


def network_context(enhancer: SpectralEnhancer) -> int:
    """Frames each side that the enhancer's network looks at, from its layers; a network that looks
    further (a noise tracker, a recurrent layer) cannot be run in blocks and is refused."""
    network = enhancer.network
    if isinstance(network, BlockedNetwork):
        return network.context
    if not blockable(network):
        raise ValueError(f"{type(network).__name__} is not a stack of convolutions: it cannot run in blocks")
    return receptive_context(network)


class Enhanced:
    """`enhance_waveform(enhancer, source, cfg).wave` of the whole 16 kHz source, for the span asked for:
    the STFT frames whose windows overlap it, the `context` frames each side that the network's receptive
    field reaches, and each of those frames' full window of samples (the STFT's reflection at the source's
    ends, as for the whole source). The source must be longer than one FFT frame."""

    def __init__(self, source: Signal, enhancer: SpectralEnhancer, cfg: StftConfig) -> None:
        if source.length <= cfg.n_fft:
            raise ValueError(f"{source.length} samples: blocks need more than one FFT frame ({cfg.n_fft})")
        self.source, self.enhancer, self.cfg = source, enhancer, cfg
        self.context = network_context(enhancer)
        self.length = source.length
        self.frames = cfg.n_frames(source.length)

    @torch.inference_mode()
    def read(self, lo: int, hi: int) -> np.ndarray:
        hop, n_fft, half = self.cfg.hop_length, self.cfg.n_fft, self.cfg.n_fft // 2
        # frame t's window spans samples [t * hop - half, t * hop - half + n_fft); one spare frame each side
        first = max(0, (lo + half - n_fft) // hop)
        last = min(self.frames, (hi - 1 + half) // hop + 2)
        net_first, net_last = max(0, first - self.context), min(self.frames, last + self.context)
        # samples: a start on a hop (local frames are then global ones) a full window before net_first
        start = max(0, (net_first - -(-half // hop)) * hop)
        end = min(self.length, net_last * hop + n_fft)
        if end - start <= n_fft:  # reflection padding needs more than half a frame; keep a whole one
            start = max(0, (end - n_fft - 1) // hop * hop)
        wave = torch.from_numpy(np.ascontiguousarray(self.source.read(start, end), dtype=np.float32))
        offset = start // hop
        spec = stft(wave, self.cfg)[:, net_first - offset : net_last - offset]
        mag = spec.abs()
        enhanced = self.enhancer(mag[None, None])[0, 0].float()
        keep = slice(first - net_first, last - net_first)
        # local sample k is global first * hop + k (frame `first`'s centre); every sample in [lo, hi) has
        # all the frames overlapping it among these, so its window sum is the whole source's
        spectrum = with_phase_of(enhanced[:, keep], spec[:, keep], mag[:, keep])
        out = istft(spectrum, self.cfg, length=hi - first * hop)
        return out[lo - first * hop : hi - first * hop].numpy()


class Cropped:
    """The first `length` samples of `source`, padded with zeros if it is shorter (`enhance_recording`'s
    output is as long as its input)."""

    def __init__(self, source: Signal, length: int) -> None:
        self.source, self.length = source, length

    def read(self, lo: int, hi: int) -> np.ndarray:
        got = self.source.read(lo, min(hi, self.source.length)) if lo < self.source.length else np.zeros(0)
        return np.pad(np.asarray(got, dtype=np.float32), (0, hi - lo - len(got)))


def enhanced_signal(enhancer: SpectralEnhancer, source: Signal, sample_rate: int, cfg: StftConfig) -> Signal:
    """`enhance_recording(enhancer, <all of source>, sample_rate, cfg)`, as a signal read in spans."""
    at_model_rate = Resampled(source, sample_rate, cfg.sample_rate)
    back = Resampled(Enhanced(at_model_rate, enhancer, cfg), cfg.sample_rate, sample_rate)
    return Cropped(back, source.length)


def block_length(block_seconds: float | None, sample_rate: int) -> int | None:
    """Samples per block at `sample_rate`, or None for whole recordings (block_seconds None or 0)."""
    if not block_seconds:
        return None
    if block_seconds < 0 or not math.isfinite(block_seconds):
        raise ValueError(f"block_seconds={block_seconds}: expected a positive number of seconds (0: none)")
    return max(1, round(block_seconds * sample_rate))


def blocks_of(signal: Signal, block: int) -> Iterator[np.ndarray]:
    for lo in range(0, signal.length, block):
        yield signal.read(lo, min(signal.length, lo + block))


def runs_in_blocks(n_samples: int, sample_rate: int, cfg: StftConfig, block_seconds: float | None) -> bool:
    """Whether a recording is enhanced in blocks: longer than one block (and than a few FFT frames at the
    model's rate, which any block size in seconds a user would pick exceeds)."""
    block = block_length(block_seconds, sample_rate)
    long_enough = n_samples * cfg.sample_rate > 4 * cfg.n_fft * sample_rate
    return block is not None and n_samples > block and long_enough


def enhance_samples(
    enhancer: SpectralEnhancer,
    samples: np.ndarray,
    sample_rate: int,
    cfg: StftConfig,
    *,
    block_seconds: float | None = DEFAULT_BLOCK_SECONDS,
) -> np.ndarray:
    """`enhance_recording` of samples in memory; above `block_seconds`, computed a block at a time into the
    output array, so the work's memory stays that of one block (input and output stay whole)."""
    if not runs_in_blocks(len(samples), sample_rate, cfg, block_seconds):
        return enhance_recording(enhancer, samples, sample_rate, cfg)
    signal = enhanced_signal(enhancer, ArraySignal(samples), sample_rate, cfg)
    block = block_length(block_seconds, sample_rate)
    out = np.empty(len(samples), dtype=np.float32)
    for lo in range(0, len(samples), block):
        hi = min(len(samples), lo + block)
        out[lo:hi] = signal.read(lo, hi)
    return out


@dataclass(frozen=True)
class Enhancement:
    """What `enhance_file` did: the recording's length in samples, its rate, and the blocks it took (1 for
    a recording enhanced whole)."""

    samples: int
    sample_rate: int
    blocks: int

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


def enhance_file(
    enhancer: SpectralEnhancer,
    source: Path | tuple[np.ndarray, int],
    target: Path,
    cfg: StftConfig,
    *,
    block_seconds: float | None = DEFAULT_BLOCK_SECONDS,
) -> Enhancement:
    """Enhance an audio file (or samples already read, with their rate) into the wav `target`.

    Up to `block_seconds` (and always when it is None or 0) the recording is read whole, enhanced by
    `enhance_recording` and written (`read_wav`, `write_wav`: today's path). Longer recordings are streamed:
    read from disk, enhanced and written one block at a time, the same samples to float rounding."""
    if isinstance(source, tuple):
        samples, sample_rate = source
        if not runs_in_blocks(len(samples), sample_rate, cfg, block_seconds):
            write_wav(target, enhance_recording(enhancer, samples, sample_rate, cfg), sample_rate)
            return Enhancement(len(samples), sample_rate, 1)
        signal = enhanced_signal(enhancer, ArraySignal(samples), sample_rate, cfg)
        count = write_wav_blocks(
            target, blocks_of(signal, block_length(block_seconds, sample_rate)), sample_rate
        )
        return Enhancement(len(samples), sample_rate, count)
    try:
        info = sf.info(str(source))
        frames, sample_rate = int(info.frames), int(info.samplerate)
    except Exception:  # read_wav says what is wrong with it
        frames, sample_rate = 0, 1
    if not runs_in_blocks(frames, sample_rate, cfg, block_seconds):
        samples, sample_rate = read_wav(source)
        write_wav(target, enhance_recording(enhancer, samples, sample_rate, cfg), sample_rate)
        return Enhancement(len(samples), sample_rate, 1)
    with WavSignal(source) as wav:
        if not wav.file.seekable():
            samples, sample_rate = read_wav(source)
            write_wav(target, enhance_recording(enhancer, samples, sample_rate, cfg), sample_rate)
            return Enhancement(len(samples), sample_rate, 1)
        signal = enhanced_signal(enhancer, wav, wav.sample_rate, cfg)
        block = block_length(block_seconds, wav.sample_rate)
        count = write_wav_blocks(target, blocks_of(signal, block), wav.sample_rate)
        return Enhancement(wav.length, wav.sample_rate, count)
