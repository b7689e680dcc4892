"""Random spectral balance for training batches: each segment's noisy and clean magnitudes are multiplied by
the same smooth random frequency response.

The demo voices' long-term spectrum is not real speech's: against the real-speech check's clean clips they
carry about 10 dB less between 600 and 1200 Hz and 5-6 dB more below 150 Hz and above 4 kHz (experiments/
README.md). A network trained on one spectral balance treats speech energy where its training voices had
little as noise, and the 1/3-octave bands STOI weighs most sit in that range. One filter on both sides of a
pair keeps the pair consistent: filtering the mixture filters speech and noise alike, and on STFT magnitudes
a smooth response is (to within its short impulse response) a per-bin gain.
"""

from __future__ import annotations

import torch

ANCHORS = 7  # points of the response, an octave apart, the last at Nyquist (at 16 kHz: 125 Hz ... 8 kHz)


def random_response(
    n_items: int, n_bins: int, max_db: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """[n_items, 1, n_bins, 1] gains: uniform dB offsets in [-max_db, max_db] at `ANCHORS` octave-spaced
    bins, interpolated linearly in log frequency between them and flat below the first."""
    db = (torch.rand(n_items, ANCHORS, generator=generator) * 2 - 1) * max_db
    octave = torch.log2(torch.arange(n_bins, dtype=torch.float32).clamp_min(1.0) / (n_bins - 1))
    position = (octave + ANCHORS - 1).clamp(0.0, ANCHORS - 1)  # 0 at the first anchor, ANCHORS-1 at Nyquist
    left = position.floor().long().clamp(max=ANCHORS - 2)
    weight = position - left
    curve = db[:, left] * (1 - weight) + db[:, left + 1] * weight
    return (10 ** (curve / 20)).view(n_items, 1, n_bins, 1)


def equalize(
    noisy: torch.Tensor, clean: torch.Tensor, max_db: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair [B, 1, F, T] seen through one random response per item (the same on both sides)."""
    gain = random_response(noisy.shape[0], noisy.shape[-2], max_db, generator).to(noisy.device, noisy.dtype)
    return noisy * gain, clean * gain
