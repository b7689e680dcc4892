"""Speech-quality scores during training: SI-SDR, PESQ-WB and STOI of a few whole validation utterances at
the end of every validation epoch, beside the validation loss.

The loss says how close magnitudes are; these say what a listener (and the test table) will see, early
enough to stop a run that learns the wrong thing. They are torchmetrics' metrics (running means over the
utterances, SI-SDR on zero-mean signals as the test evaluation computes it; PESQ and STOI through the same
`pesq` and `pystoi` packages), on a few utterances only: a few tenths of a second per epoch.
"""

from __future__ import annotations

import lightning as L
import torch
from torchmetrics import MeanMetric
from torchmetrics.functional.audio import (
    perceptual_evaluation_speech_quality,
    scale_invariant_signal_distortion_ratio,
    short_time_objective_intelligibility,
)

from rcnn_se.evaluation.scoring import enhance_utterances


def utterance_scores(clean: torch.Tensor, enhanced: torch.Tensor, fs: int) -> dict[str, float]:
    """SI-SDR (dB), PESQ-WB and STOI of one utterance, by torchmetrics; PESQ is left out where it refuses
    the utterance (no speech found), as the test evaluation leaves it out of its means."""
    from pesq import PesqError

    scores = {
        "si_sdr": float(scale_invariant_signal_distortion_ratio(enhanced, clean, zero_mean=True)),
        "stoi": float(short_time_objective_intelligibility(enhanced, clean, fs)),
    }
    try:
        scores["pesq_wb"] = float(perceptual_evaluation_speech_quality(enhanced, clean, fs, "wb"))
    except PesqError:
        pass
    return scores


class ValidationQuality(L.Callback):
    """Log `val/si_sdr`, `val/pesq_wb`, `val/stoi`: means over the first `n_utterances` validation
    utterances of the datamodule (one with `train_cache` and `val_indices`, as EdinburghDataModule has)."""

    NAMES = ("si_sdr", "pesq_wb", "stoi")

    def __init__(self, n_utterances: int = 4) -> None:
        if n_utterances < 1:
            raise ValueError(f"n_utterances={n_utterances}: must be >= 1 (remove the callback to switch off)")
        self.n_utterances = n_utterances
        # Only rank 0 scores: a mean that synchronised over ranks would wait forever for the others.
        self.means = {name: MeanMetric(sync_on_compute=False) for name in self.NAMES}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        indices = list(getattr(data, "val_indices", []) or [])[: self.n_utterances]
        if trainer.sanity_checking or not indices or not trainer.is_global_zero:
            return
        cache = data.train_cache
        fs = cache.stft.sample_rate
        for item in enhance_utterances(pl_module.enhancer(), cache, indices):
            clean, enhanced = torch.from_numpy(item.clean), torch.from_numpy(item.enhanced).float()
            for name, value in utterance_scores(clean, enhanced, fs).items():
                self.means[name].update(value)
        for name, mean in self.means.items():
            if mean.update_count:
                pl_module.log(f"val/{name}", mean.compute(), rank_zero_only=True)
            mean.reset()
