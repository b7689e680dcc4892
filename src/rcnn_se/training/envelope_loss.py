"""A loss on what STOI measures: the correlation of clean and enhanced band envelopes.

STOI (Taal et al., 2011) splits both signals into 15 one-third-octave bands from 150 Hz, takes each band's
short-time magnitude envelope over windows of about 384 ms, and averages the correlation between the clean
and the processed envelope. A spectral MSE does not see that measure: it counts every bin alike, so a
network can trade envelope shape for a smaller squared error. This term scores the network's output on the
envelope correlation itself, per band and training segment (64 frames, 512 ms), without STOI's clipping
and silent-frame removal, which are not differentiable in a useful way.
"""

from __future__ import annotations

import torch

STOI_BANDS = 15  # one-third octaves from 150 Hz: the last one's upper edge is about 4.3 kHz
STOI_LOWEST_HZ = 150.0
SILENCE_DB = 40.0


def third_octave_matrix(n_fft: int, sample_rate: int) -> torch.Tensor:
    """[bands, n_fft // 2 + 1] of 0/1: which STFT bins each of STOI's one-third-octave bands sums."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    centres = STOI_LOWEST_HZ * 2 ** (torch.arange(STOI_BANDS, dtype=torch.float64) / 3)
    low, high = centres * 2 ** (-1 / 6), centres * 2 ** (1 / 6)
    if high[-1] > sample_rate / 2:
        raise ValueError(f"sample_rate={sample_rate}: STOI's bands reach {high[-1]:.0f} Hz, above Nyquist")
    return ((freqs[None, :] >= low[:, None]) & (freqs[None, :] < high[:, None])).to(torch.float32)


def envelope_correlation_loss(
    estimate: torch.Tensor, clean: torch.Tensor, valid_frames: torch.Tensor, bands: torch.Tensor
) -> torch.Tensor:
    """1 - the mean correlation between clean and estimated band envelopes, over items and bands.

    `estimate` and `clean` are linear magnitudes [B, 1, F, T]; only the first `valid_frames[b]` frames of
    each item count (the rest is padding); `bands` comes from `third_octave_matrix`.
    """
    frames = torch.arange(estimate.shape[-1], device=estimate.device)
    mask = (frames[None, :] < valid_frames[:, None]).to(torch.float32)[:, None, :]  # [B, 1, T]
    count = mask.sum(-1, keepdim=True).clamp_min(1.0)

    def centred_envelope(mag: torch.Tensor) -> torch.Tensor:
        env = torch.sqrt(torch.einsum("jf,bft->bjt", bands, mag.float()[:, 0] ** 2) + 1e-10)
        return (env - (env * mask).sum(-1, keepdim=True) / count) * mask

    x, y = centred_envelope(clean), centred_envelope(estimate)
    correlation = (x * y).sum(-1) / torch.sqrt((x * x).sum(-1) * (y * y).sum(-1) + 1e-12)  # [B, bands]
    # A segment of pause has no speech envelope to follow: as STOI drops frames 40 dB under the loudest,
    # segments whose clean energy per frame is 40 dB under the batch's loudest segment do not count.
    energy = (clean.float()[:, 0] ** 2).sum(-2) * mask[:, 0]
    per_frame = energy.sum(-1) / count[:, 0, 0]
    speech = (per_frame >= per_frame.max() * 10 ** (-SILENCE_DB / 10)).to(torch.float32)
    return 1.0 - (correlation.mean(-1) * speech).sum() / speech.sum().clamp_min(1.0)
