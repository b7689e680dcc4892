"""Training must learn: a small RCNN trained a few hundred seeded steps beats the identity clearly, and the
same check fails when the training pairs are swapped (a pipeline bug no other test would notice)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from helpers.audio import voiced
from rcnn_se.data.audio import write_wav
from rcnn_se.data.corpus import SPLITS
from rcnn_se.data.datamodule import EdinburghDataModule
from rcnn_se.evaluation.scoring import evaluate
from rcnn_se.models.baselines import Baseline
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem

SR = 16000


def write_corpus(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, speakers, snrs in (("train", (301, 302, 303, 304), (0, 5, 10)), ("test", (901,), (2.5, 7.5))):
        clean_dir, noisy_dir, log_name = SPLITS[split]
        lines = []
        for s in speakers:
            for i, snr in enumerate(snrs * 2):
                uid = f"p{s}_{i:03d}"
                clean = voiced(rng, 1.0)
                noise = np.convolve(rng.standard_normal(len(clean)), [1, 0.5], "same")
                noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr / 10))
                write_wav(root / clean_dir / f"{uid}.wav", clean, SR)
                write_wav(root / noisy_dir / f"{uid}.wav", clean + noise, SR)
                lines.append(f"{uid} white {snr:g}")
        (root / log_name).write_text("\n".join(lines) + "\n")
    return root


class Swapped(Dataset):
    """The bug under test: targets and inputs exchanged."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, k: int):
        noisy, clean, valid = self.inner[k]
        return clean, noisy, valid


class SwappedData(EdinburghDataModule):
    def train_dataloader(self) -> DataLoader:
        loader = super().train_dataloader()
        return DataLoader(Swapped(loader.dataset), batch_size=self.batch_size, shuffle=True)


def learning_check(root: Path, cache: Path, swapped: bool = False) -> dict[str, float]:
    """Validation loss of the trained model and of the identity, and test SI-SDR of both."""
    L.seed_everything(0, workers=True)
    kind = SwappedData if swapped else EdinburghDataModule
    data = kind(root=str(root), cache_dir=str(cache), val_speakers=1, segment_frames=16, batch_size=8)
    data.prepare_data()
    data.setup("fit")
    optimizer = lambda params: torch.optim.Adam(params, lr=3e-3)  # noqa: E731
    system = EnhancementSystem(SpectralCNN(channels=16, kernel_size=5), optimizer, compress="log1p")
    trainer = L.Trainer(
        max_steps=300, accelerator="cpu", precision="32-true", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(system, datamodule=data)
    identity = EnhancementSystem(Baseline("noisy"), compress="log1p")
    check = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    val = {name: check.validate(s, datamodule=data, verbose=False)[0]["val/loss"]
           for name, s in (("model", system.eval()), ("identity", identity))}  # fmt: skip
    sdr = {
        name: float(np.mean([r["si_sdr"] for r in evaluate(s.enhancer(), data.test_cache, workers=0)]))
        for name, s in (("model", system), ("identity", identity))
    }
    return {
        "val_model": val["model"],
        "val_identity": val["identity"],
        **{f"sdr_{k}": v for k, v in sdr.items()},
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("learn") / "corpus")


@pytest.mark.slow
def test_training_learns(corpus: Path, tmp_path: Path) -> None:
    result = learning_check(corpus, tmp_path / "cache")
    assert result["val_model"] < 0.5 * result["val_identity"], result
    assert result["sdr_model"] > result["sdr_identity"] + 1.0, result


@pytest.mark.slow
def test_swapped_pairs_are_caught(corpus: Path, tmp_path: Path) -> None:
    result = learning_check(corpus, tmp_path / "cache", swapped=True)
    assert not result["val_model"] < 0.5 * result["val_identity"], result
    assert result["sdr_model"] < result["sdr_identity"], result


def test_validation_reports_the_plain_error_beside_the_weighted_loss(corpus: Path, tmp_path: Path) -> None:
    """`val/loss` counts removed speech `underestimate_weight` times; `val/mse` is the plain error, the same
    whatever the weight, so runs (a search's trials) that differ in it compare on one scale."""
    data = EdinburghDataModule(
        root=str(corpus), cache_dir=str(tmp_path / "cache"), val_speakers=1, segment_frames=16, batch_size=8
    )
    data.prepare_data()
    data.setup("fit")
    check = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    plain, weighted = (
        check.validate(
            EnhancementSystem(Baseline("noisy"), compress="log1p", underestimate_weight=weight),
            datamodule=data,
            verbose=False,
        )[0]
        for weight in (1.0, 8.0)
    )
    assert plain["val/mse"] == pytest.approx(plain["val/loss"])
    assert weighted["val/mse"] == pytest.approx(plain["val/mse"])
    assert weighted["val/loss"] > plain["val/loss"] * 1.01


def test_a_dead_network_is_told_from_a_live_one() -> None:
    """A network whose final ReLU no input opens outputs zero everywhere: the enhancer then only applies the
    gain floor, and a job says so (train_job.warn_if_dead) instead of passing it off as a weak model."""
    torch.manual_seed(0)
    noisy = torch.rand(2, 1, 257, 32) * 0.5
    system = EnhancementSystem(SpectralCNN(channels=4, kernel_size=3), compress="log1p")
    assert system.silent_fraction(noisy) < 0.5
    with torch.no_grad():
        system.model.body[-1].bias.fill_(-100.0)  # the last layer pushes every bin below zero
    assert system.silent_fraction(noisy) == 1.0
    assert system.training  # the check leaves the system in the mode it found it
