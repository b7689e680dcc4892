"""Noise reduction and speech distortion of an enhancer, measured by shadow filtering.

Chen, Benesty, Huang & Doclo (IEEE TASLP 2006) separate what a noise-reduction filter does to the noise from
what it does to the speech. A learned enhancer is not a linear filter, but its per-bin effective gain
G = Ŝ/Y is: applying that same gain separately to the clean speech S and to the noise N = Y - S (same STFT)
splits the output Ŝ = G·S + G·N into a speech part and a residual-noise part, exactly so when the model reuses
the noisy phase. That lets a single test mixture report both sides of the trade-off that PESQ or SI-SDR fold
into one number.

Ratio conventions: the ratios are relative energies, so the dB values are capped by a relative floor `eps`
(default 1e-12, i.e. at most +120 dB noise reduction and at least -120 dB distortion) instead of becoming
infinite when the gain is exactly 0 or 1; a ratio whose reference energy is zero (no noise at all, or no
speech at all) is undefined and comes back as NaN, which the evaluation's means skip and count.
"""

from __future__ import annotations

import numpy as np


def effective_gain(enhanced_mag: np.ndarray, noisy_mag: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Per-bin gain Ŝ/Y of an enhancer; `eps` keeps empty noisy bins (digital silence) from dividing by 0."""
    return np.asarray(enhanced_mag) / np.maximum(np.abs(np.asarray(noisy_mag)), eps)


def _energy(x: np.ndarray) -> float:
    # Spectra often arrive as complex64; accumulate in float64 so long utterances lose no precision.
    return float(np.sum(np.square(np.abs(x)), dtype=np.float64))


def _check_shapes(clean_spec: np.ndarray, noise_spec: np.ndarray, gain: np.ndarray) -> None:
    if clean_spec.shape != noise_spec.shape:
        raise ValueError(f"clean_spec shape {clean_spec.shape} != noise_spec shape {noise_spec.shape}")
    try:
        joint = np.broadcast_shapes(gain.shape, clean_spec.shape)
    except ValueError:
        joint = None
    if joint != clean_spec.shape:
        raise ValueError(f"gain shape {gain.shape} does not broadcast to spectrum shape {clean_spec.shape}")


def energies(clean_spec: np.ndarray, noise_spec: np.ndarray, gain: np.ndarray) -> dict[str, float]:
    """The four energy sums NR and SD are ratios of: noise in and out, speech in and its distortion.

    Kept per utterance so a test set can also be pooled (sums over all utterances, then the ratio), which
    weights each utterance by its energy, where the per-utterance mean weights every utterance equally.
    """
    clean_spec, noise_spec, gain = np.asarray(clean_spec), np.asarray(noise_spec), np.asarray(gain)
    _check_shapes(clean_spec, noise_spec, gain)
    return {
        "noise_in": _energy(noise_spec),
        "noise_out": _energy(gain * noise_spec),
        "speech_in": _energy(clean_spec),
        "distortion": _energy((gain - 1) * clean_spec),
    }


def ratios(sums: dict[str, float], eps: float = 1e-12) -> dict[str, float]:
    """NR, SD and their dB forms from `energies` (of one utterance, or summed over many)."""
    noise_in, speech_in = sums["noise_in"], sums["speech_in"]
    noise_ratio = sums["noise_out"] / noise_in if noise_in > 0 else float("nan")
    distortion = sums["distortion"] / speech_in if speech_in > 0 else float("nan")
    return {
        "nr": 1.0 - noise_ratio,
        "sd": distortion,
        "nr_db": float(-10.0 * np.log10(np.maximum(noise_ratio, eps))),
        "sd_db": float(10.0 * np.log10(np.maximum(distortion, eps))),
    }


def nr_sd(
    clean_spec: np.ndarray, noise_spec: np.ndarray, gain: np.ndarray, eps: float = 1e-12
) -> dict[str, float]:
    """Noise reduction and speech distortion of the gain `gain` applied to speech and noise separately.

    Returns `nr` = 1 - Σ|G·N|²/Σ|N|² (share of the noise energy removed; negative if the gain amplifies
    noise), `sd` = Σ|(G-1)·S|²/Σ|S|² (speech distortion index), `nr_db` = 10·log10(Σ|N|²/Σ|G·N|²) (noise-
    reduction factor, positive is good) and `sd_db` = 10·log10(sd). Complex gains are allowed: a phase change
    counts as distortion, as it should.
    """
    return ratios(energies(clean_spec, noise_spec, gain), eps)
