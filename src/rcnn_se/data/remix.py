"""Dynamic mixing: training pairs remixed each time they are drawn, from the same pools of speech and noise.

A fixed corpus offers each clean utterance with one noise stretch at one SNR, so a model sees the same few
thousand mixtures every epoch and can learn them rather than the task; DNS-Challenge-style recipes mix anew
for every example instead. An Edinburgh-layout corpus keeps no separate noise files, but its mixtures are
additive, so a training pair's noise is its noisy minus its clean waveform. Here a training tile keeps its
clean speech and gets the noise of another training utterance (a random stretch of it, looped when short),
scaled to a training SNR: the SNR label of a random training utterance, so the SNR condition (`snr=5`) and
the corpus's SNR distribution hold. The level is set as the corpus sets it: the noise stretch's mean power
against the ITU-T P.56 active level of the whole clean utterance. Validation and test pairs never change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rcnn_se.data.cache import FeatureCache
from rcnn_se.data.features import stft
from rcnn_se.data.segments import SegmentDataset
from rcnn_se.data.speech import active_power

SILENT_POWER = 1e-10  # a noise stretch this quiet (digital silence) cannot be scaled to an SNR


def remix_wave(clean: np.ndarray, noise: np.ndarray, snr_db: float, speech_power: float) -> np.ndarray | None:
    """`clean` plus `noise` (the same length) scaled so that `speech_power` (the clean side's P.56 active
    power, `speech.active_power`) is `snr_db` above the noise's mean power; clean speech is not rescaled, as
    the loss compares against it. None when the noise is silent or the speech has no active level."""
    noise_power = float(np.mean(np.square(noise, dtype=np.float64)))
    if speech_power <= 0 or noise_power < SILENT_POWER:
        return None
    gain = np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    return (clean + gain * noise).astype(np.float32)


def noise_stretch(noise: np.ndarray, length: int, offset: int) -> np.ndarray:
    """`length` samples of `noise` from `offset` on, wrapping around to its start where it runs out."""
    return noise[(offset + np.arange(length)) % len(noise)]


class RemixDataset(SegmentDataset):
    """(noisy, clean, valid frames) tiles as `SegmentDataset` gives them, the noisy side remixed per draw.

    Random choices come from torch's global generator, which `seed` (Lightning's `seed_everything`, with
    per-worker seeds) sets, so a job's sequence of mixtures is fixed by its seed.
    """

    def __init__(self, cache: FeatureCache, indices: Sequence[int], segment_frames: int) -> None:
        super().__init__(cache, indices, segment_frames)
        self.indices = list(indices)
        self.snrs = [cache.items[i].snr for i in self.indices]
        self._speech_power: dict[int, float] = {}

    def _active(self, index: int, clean: np.ndarray) -> float:
        if index not in self._speech_power:  # measured once per utterance, on first use
            self._speech_power[index] = active_power(clean, self.cache.stft.sample_rate)
        return self._speech_power[index]

    def draw(self) -> tuple[int, float, float]:
        """One mixture's random choices: the donor utterance of the noise, where in its noise the stretch
        starts (a fraction of its length) and the SNR."""
        donor = self.indices[int(torch.randint(len(self.indices), ()))]
        snr = self.snrs[int(torch.randint(len(self.snrs), ()))]
        return donor, float(torch.rand(())), snr

    def _remixed_magnitude(self, index: int) -> np.ndarray | None:
        """Noisy magnitudes [F, T] of utterance `index` in new noise, or None when the drawn noise is silent
        or the speech has no active level (the tile then keeps its corpus mixture)."""
        clean = self.cache.wave(index, "clean")
        donor, start, snr = self.draw()
        noise = self.cache.wave(donor, "noisy") - self.cache.wave(donor, "clean")
        stretch = noise_stretch(noise, len(clean), int(start * len(noise)))
        noisy = remix_wave(clean, stretch, snr, self._active(index, clean))
        return None if noisy is None else stft(noisy, self.cache.stft).abs().numpy()

    def noisy(self, index: int, start: int) -> torch.Tensor:
        magnitude = self._remixed_magnitude(index)
        if magnitude is None:
            return super().noisy(index, start)
        return self.tile(magnitude[:, start : start + self.segment_frames])
