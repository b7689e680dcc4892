"""Classic single-channel enhancers, evaluated by the same code as the networks: the "fundamental methods"
of the paper's introduction (spectral subtraction, Wiener filtering) that neural models are measured against.

Each is a pure function on a noisy magnitude spectrogram [F, T] that returns the enhanced magnitude; the
caller reuses the noisy phase, as for the networks. The noise power is tracked by a simplified
minimum-statistics estimator (Martin 2001): the minimum of the recursively smoothed power over a window of
about 1.5 s, scaled by a bias factor, so pauses anywhere in the utterance count, not only a leading silence.
Each takes the spectrogram's frame rate (`frames_per_second`: the STFT's sample rate over its hop; passed on
to the noise tracker), so the window spans 1.5 s whatever the hop (`Baseline` reads it from its `stft`,
which the model configs take from `data.stft`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from scipy.ndimage import minimum_filter1d
from scipy.signal import lfilter
from torch import nn

from rcnn_se.data.features import StftConfig


def identity(noisy_mag: np.ndarray, *, frames_per_second: float) -> np.ndarray:
    """The noisy input itself: the floor every enhancer must beat (at any frame rate)."""
    return np.asarray(noisy_mag, dtype=np.float64).copy()


def estimate_noise_psd(
    noisy_power: np.ndarray, *, frames_per_second: float, method: str = "minimum", window_s: float = 1.5,
    smoothing: float = 0.85, bias: float = 2.8, leading_frames: int = 6,
) -> np.ndarray:  # fmt: skip
    """Noise power per bin and frame [F, T].

    "minimum": running minimum of the smoothed power over `window_s` (centred), times `bias`: the minimum
    of the smoothed periodogram of stationary noise lies 4.5 dB under its mean for these settings (measured on
    white noise; Martin 2001 derives the same kind of correction), hence 2.8.
    "leading": mean of the first `leading_frames` frames, for recordings known to start with noise only.
    """
    power = np.asarray(noisy_power, dtype=np.float64)
    if method == "leading":
        return np.repeat(power[:, :leading_frames].mean(axis=1, keepdims=True), power.shape[1], axis=1)
    if method != "minimum":
        raise ValueError(f"noise estimation method={method!r}: expected 'minimum' or 'leading'")
    smoothed = lfilter([1 - smoothing], [1, -smoothing], power, axis=1)
    smoothed[:, 0] = power[:, 0]
    window = max(1, int(round(window_s * frames_per_second)))
    return bias * minimum_filter1d(smoothed, size=window, axis=1, mode="nearest")


def spectral_subtraction(
    noisy_mag: np.ndarray, *, alpha: float = 2.0, floor: float = 0.02, **noise_options: float
) -> np.ndarray:
    """Power spectral subtraction with over-subtraction `alpha` and a spectral floor (Berouti et al., 1979):
    the floor keeps a little noise everywhere, which masks the "musical" tones plain subtraction leaves."""
    power = np.asarray(noisy_mag, dtype=np.float64) ** 2
    noise = estimate_noise_psd(power, **noise_options)
    cleaned = np.maximum(power - alpha * noise, floor * power)
    return np.sqrt(cleaned)


def wiener_dd(
    noisy_mag: np.ndarray, *, alpha: float = 0.98, gain_floor: float = 0.1, **noise_options: float
) -> np.ndarray:
    """Wiener gain ξ/(1+ξ) with the decision-directed a priori SNR ξ (Ephraim & Malah, 1984):
    ξ_t = α·|Ŝ_{t-1}|²/λ_t + (1-α)·max(γ_t - 1, 0), which smooths ξ over time and so avoids musical noise."""
    mag = np.asarray(noisy_mag, dtype=np.float64)
    power = mag**2
    noise = np.maximum(estimate_noise_psd(power, **noise_options), 1e-12)
    gamma = power / noise
    out = np.empty_like(mag)
    previous = np.zeros(mag.shape[0])
    for t in range(mag.shape[1]):
        xi = alpha * previous / noise[:, t] + (1 - alpha) * np.maximum(gamma[:, t] - 1, 0)
        gain = np.maximum(xi / (1 + xi), gain_floor)
        out[:, t] = gain * mag[:, t]
        previous = out[:, t] ** 2
    return out


BASELINES: dict[str, Callable[..., np.ndarray]] = {  # (noisy_mag, *, frames_per_second, **options)
    "noisy": identity,
    "spectral_subtraction": spectral_subtraction,
    "wiener": wiener_dd,
}


class Baseline(nn.Module):
    """A baseline as a module with no parameters, so the framework treats it like a model (no training).

    `stft` holds the STFT settings of the spectra it will see (a `data.stft` config; None: the project's
    defaults, as for `EnhancementSystem`), from which its noise tracker counts its window in frames.
    """

    def __init__(self, name: str, stft: Mapping[str, int | str] | None = None, **options: float) -> None:
        super().__init__()
        if name not in BASELINES:
            raise ValueError(f"baseline {name!r} unknown; known: {sorted(BASELINES)}")
        self.name, self.options = name, options
        self.frames_per_second = StftConfig(**(stft or {})).frames_per_second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, F, T] magnitudes -> enhanced magnitudes of the same shape."""
        fn, fps = BASELINES[self.name], self.frames_per_second
        items = [
            fn(item[0].detach().cpu().double().numpy(), frames_per_second=fps, **self.options) for item in x
        ]
        out = torch.from_numpy(np.stack(items)[:, None]).to(dtype=x.dtype, device=x.device)
        return out.clamp_min(0.0)
