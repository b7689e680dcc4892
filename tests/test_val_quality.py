"""Validation speech quality by torchmetrics: the same numbers as the test evaluation's own metrics, logged
by a real Trainer on real wav files."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from helpers.audio import voiced
from rcnn_se.data.datamodule import EdinburghDataModule
from rcnn_se.evaluation.val_quality import ValidationQuality, utterance_scores
from rcnn_se.metrics.quality import pesq_wb, si_sdr, stoi
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem


def test_scores_match_the_test_evaluations_metrics() -> None:
    rng = np.random.default_rng(3)
    clean = voiced(rng, 2.0)
    degraded = clean + 0.02 * rng.standard_normal(len(clean))
    scores = utterance_scores(torch.from_numpy(clean), torch.from_numpy(degraded), 16000)
    assert scores["si_sdr"] == pytest.approx(si_sdr(clean, degraded), abs=1e-3)
    assert scores["pesq_wb"] == pytest.approx(pesq_wb(clean, degraded), abs=1e-4)
    assert scores["stoi"] == pytest.approx(stoi(clean, degraded), abs=1e-4)


def test_silence_gets_no_pesq_but_keeps_the_rest() -> None:
    silent = torch.zeros(16000, dtype=torch.float64)
    scores = utterance_scores(silent, silent + 1e-6 * torch.randn(16000, dtype=torch.float64), 16000)
    assert "pesq_wb" not in scores and set(scores) == {"si_sdr", "stoi"}


def test_trainer_logs_validation_quality_each_epoch(tiny_corpus: Path, tmp_path: Path) -> None:
    data = EdinburghDataModule(str(tiny_corpus), str(tmp_path / "cache"), val_speakers=1, segment_frames=8)
    system = EnhancementSystem(SpectralCNN(channels=4), lambda params: torch.optim.Adam(params, lr=1e-3))
    trainer = L.Trainer(
        max_epochs=1, limit_train_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[ValidationQuality(2)],
    )  # fmt: skip
    trainer.fit(system, datamodule=data)
    logged = trainer.callback_metrics
    assert {"val/si_sdr", "val/stoi", "val/loss"} <= set(logged)
    assert -50 < float(logged["val/si_sdr"]) < 100 and 0 < float(logged["val/stoi"]) <= 1


def test_needs_at_least_one_utterance() -> None:
    with pytest.raises(ValueError, match="n_utterances=0"):
        ValidationQuality(0)
