"""STFT magnitude features and their inverse with the noisy phase (paper, Fig. 2).

Pure functions on tensors; the paper's front end is a 512-point Hamming window with 75 % overlap at 16 kHz.
`enhance_waveform` is the one way a waveform goes through an enhancer: evaluation, validation, the enhance
CLI and the logged MLflow model all call it, so what is scored is what a user gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from rcnn_se.config.checks import check_block
from rcnn_se.config.schema import COMPRESSIONS, Stft

LOG_KNEE = 0.01  # "log": log1p(magnitude / LOG_KNEE), logarithmic down to ~40 dB under speech peaks


@dataclass(frozen=True)
class StftConfig:
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 128
    win_length: int = 512
    window: str = "hamming"

    def __post_init__(self) -> None:
        """Settings from a checkpoint or a caller get the schema's rules, as a config's `data.stft` does."""
        check_block(asdict(self), Stft, "stft.")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frames_per_second(self) -> float:
        """What turns a duration into frames (noise trackers' windows) and frames into seconds (figures)."""
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Frame count of a centred STFT, known before computing it (used to size the feature cache)."""
        return 1 + n_samples // self.hop_length

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def _window(cfg: StftConfig, device: torch.device | None = None) -> torch.Tensor:
    make = torch.hamming_window if cfg.window == "hamming" else torch.hann_window
    return make(cfg.win_length, periodic=True, device=device)


def _framing(cfg: StftConfig, device: torch.device) -> dict[str, Any]:
    """The arguments that torch.stft and torch.istft must share to invert each other."""
    return {
        "n_fft": cfg.n_fft,
        "hop_length": cfg.hop_length,
        "win_length": cfg.win_length,
        "window": _window(cfg, device),
        "center": True,
    }


def stft(wave: torch.Tensor | np.ndarray, cfg: StftConfig) -> torch.Tensor:
    """Complex spectrogram [..., F, T] of a waveform [..., N]."""
    wave = torch.as_tensor(wave, dtype=torch.float32)
    return torch.stft(wave, **_framing(cfg, wave.device), return_complex=True)


def istft(spec: torch.Tensor, cfg: StftConfig, length: int) -> torch.Tensor:
    """Waveform from a complex spectrogram, trimmed or padded to `length` samples."""
    return torch.istft(spec, **_framing(cfg, spec.device), length=length)


def with_phase_of(
    magnitude: torch.Tensor, reference: torch.Tensor, reference_magnitude: torch.Tensor | None = None
) -> torch.Tensor:
    """Attach the phase of the complex `reference` (the noisy STFT) to an estimated magnitude: `reference`
    scaled by magnitude / |reference|, which is polar(magnitude, angle(reference)) without the arctangent,
    sine and cosine of every bin (they took half the time of a file's path outside the network). A zero
    bin of `reference` has phase 0, as `torch.angle` gives it. Pass |reference| if it is at hand."""
    ref_mag = reference.abs() if reference_magnitude is None else reference_magnitude
    nonzero = ref_mag > 0
    scaled = reference * torch.where(nonzero, magnitude / torch.where(nonzero, ref_mag, 1.0), 0.0)
    return torch.where(nonzero, scaled, magnitude.to(reference.dtype))


class EnhancedWaveform(NamedTuple):
    wave: torch.Tensor  # [N] enhanced samples, as many as the input has
    noisy_spec: torch.Tensor  # complex [F, T]: the input's spectrum, whose phase the output reuses
    magnitude: torch.Tensor  # [F, T] the enhanced magnitude (float32)


@torch.inference_mode()
def enhance_waveform(
    enhancer: Callable[[torch.Tensor], torch.Tensor], wave: torch.Tensor | np.ndarray, cfg: StftConfig
) -> EnhancedWaveform:
    """STFT, `enhancer` (noisy magnitude [B, 1, F, T] -> enhanced magnitude: a system's SpectralEnhancer),
    ISTFT with the noisy phase. The spectra come back too, for measures of the gain (NR, SD)."""
    noisy_spec = stft(wave, cfg)
    noisy_mag = noisy_spec.abs()
    magnitude = enhancer(noisy_mag[None, None])[0, 0].float()
    out = istft(with_phase_of(magnitude, noisy_spec, noisy_mag), cfg, length=len(wave))
    return EnhancedWaveform(out, noisy_spec, magnitude)


def compress(magnitude: torch.Tensor, kind: str) -> torch.Tensor:
    """Map magnitudes to the network's domain; both logs tame the dynamic range while staying >= 0.

    log1p is linear below magnitude 1, where at speech level (-26 dBov) most bins above 1 kHz lie, so its
    loss barely sees them; "log" moves that knee down to LOG_KNEE so it weighs every band alike.
    """
    if kind == "none":
        return magnitude
    if kind == "log1p":
        return torch.log1p(magnitude)
    if kind == "log":
        return torch.log1p(magnitude / LOG_KNEE)
    raise ValueError(f"features.compress={kind!r}: expected one of {COMPRESSIONS}")


def decompress(values: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "none":
        return values
    if kind == "log1p":
        return (torch.exp(values) - 1.0).clamp_min(0.0)  # not expm1: ONNX has no such operator
    if kind == "log":
        return (torch.exp(values) - 1.0).clamp_min(0.0) * LOG_KNEE
    raise ValueError(f"features.compress={kind!r}: expected one of {COMPRESSIONS}")
