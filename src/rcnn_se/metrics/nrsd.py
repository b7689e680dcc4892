"""Noise-reduction factor and speech-distortion index (Chen, Benesty, Huang & Doclo, IEEE TASLP 2006).

Both need the enhancer's action on speech and noise separately. A magnitude-domain enhancer that reuses the
noisy phase applies a real gain G = |Ŝ|/|Y| to each STFT bin, so Ŝ = G·S + G·N exactly: applying G to the
clean speech S and to the noise N = Y - S ("shadow filtering") splits its output into filtered speech and
residual noise. NR is reported as the share of noise energy removed (1 = all of it) — the form of the paper's
Table 1 — and as the classic noise-reduction factor in dB; SD is the speech-distortion index (0 = none).
"""

from __future__ import annotations

import math

import numpy as np


def effective_gain(enhanced_mag: np.ndarray, noisy_mag: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """G = |Ŝ|/|Y| per bin; bins where the noisy STFT is (numerically) zero get gain 0."""
    return np.where(noisy_mag > eps, enhanced_mag / np.maximum(noisy_mag, eps), 0.0)


def _db(ratio: float, eps: float) -> float:
    return 10 * math.log10(max(ratio, eps))


def nr_sd(clean_spec: np.ndarray, noise_spec: np.ndarray, gain: np.ndarray, eps: float = 1e-12) -> dict[str, float]:
    """NR = 1 - Σ|G·N|²/Σ|N|², SD = Σ|(G-1)·S|²/Σ|S|², and their dB forms.

    dB values are bounded by `eps` (a gain of exactly 0 gives nr_db = 120 dB, not infinity), so means stay finite.
    """
    if clean_spec.shape != noise_spec.shape:
        raise ValueError(f"clean spectrum {clean_spec.shape} and noise spectrum {noise_spec.shape} differ in shape")
    try:
        gain = np.broadcast_to(gain, clean_spec.shape)
    except ValueError:
        raise ValueError(f"gain {np.shape(gain)} does not match the spectra {clean_spec.shape}") from None
    noise_energy = float(np.sum(np.abs(noise_spec) ** 2))
    speech_energy = float(np.sum(np.abs(clean_spec) ** 2))
    residual = float(np.sum(np.abs(gain * noise_spec) ** 2)) / max(noise_energy, eps)
    sd = float(np.sum(np.abs((gain - 1) * clean_spec) ** 2)) / max(speech_energy, eps)
    return {"nr": 1.0 - residual, "sd": sd, "nr_db": -_db(residual, eps), "sd_db": _db(sd, eps)}
