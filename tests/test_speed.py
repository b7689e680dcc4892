"""Speed settings that must not cost quality or correctness: MAC counts, bf16 parity, loader workers, GPU.

Speed targets themselves live in `make bench` and experiments/README.md, never in timed tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import pytest
import torch

from helpers.jobs import TINY, train
from helpers.store import project_runs
from rcnn_se.data.datamodule import EdinburghDataModule
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.macs import forward_macs, training_macs
from rcnn_se.training.system import EnhancementSystem

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")


def test_macs_of_the_paper_rcnn_counted_from_its_layers() -> None:
    model = SpectralCNN()  # 1 -> 54 -> 54 -> 54 -> 1 channels, 5x5 kernels, 'same' padding
    per_pixel = 25 * (1 * 54 + 54 * 54 + 54 * 54 + 54 * 1)
    assert forward_macs(model, 257, 64) == per_pixel * 257 * 64
    first = 25 * 54 * 257 * 64  # the first layer's input gradient is never computed
    assert training_macs(model, 257, 64) == 3 * per_pixel * 257 * 64 - first
    wide = SpectralCNN(n_layers=3, channels=8, kernel_size=(3, 7))
    assert forward_macs(wide, 10, 20) == 21 * (8 + 64 + 8) * 10 * 20


def test_the_model_summary_counts_the_same_work() -> None:
    """Lightning prints FLOPs from torch's own counter: 2 per MAC of ours, so the two counts check each other
    (and a summary of 'Total FLOPs: 0' means the system lost its example input)."""
    from lightning.pytorch.utilities.model_summary import ModelSummary

    system = EnhancementSystem(SpectralCNN())
    assert ModelSummary(system).total_flops == 2 * forward_macs(system.model, 257, 64)
    stft = {"n_fft": 256, "hop_length": 64, "win_length": 256}
    narrow = EnhancementSystem(SpectralCNN(channels=8), stft=stft)
    assert ModelSummary(narrow).total_flops == 2 * forward_macs(narrow.model, 129, 64)


def datamodule(corpus: Path, cache: Path, **kwargs) -> EdinburghDataModule:
    dm = EdinburghDataModule(
        str(corpus), str(cache), val_speakers=1, segment_frames=32, batch_size=4, **kwargs
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def validation_loss(dm: EdinburghDataModule, precision: str, steps: int) -> float:
    """val/loss after `steps` Adam steps from seed 0 under `precision`, measured by Lightning."""
    L.seed_everything(0)
    model = SpectralCNN(channels=16)
    system = EnhancementSystem(
        model, lambda params: torch.optim.Adam(params, lr=1e-3), underestimate_weight=8
    )
    common = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    trainer = L.Trainer(accelerator="cpu", precision=precision, max_steps=steps, **common)
    trainer.fit(system, datamodule=dm)
    return float(trainer.validate(system, datamodule=dm, verbose=False)[0]["val/loss"])


@pytest.mark.slow
def test_bf16_autocast_validation_loss_within_2_percent_of_fp32(tiny_corpus: Path, tmp_path: Path) -> None:
    dm = datamodule(tiny_corpus, tmp_path / "cache", num_workers=0)
    untrained = validation_loss(dm, "32-true", 0)
    fp32, bf16 = validation_loss(dm, "32-true", 12), validation_loss(dm, "bf16-mixed", 12)
    assert fp32 < 0.8 * untrained, (untrained, fp32)  # the steps did learn, so parity means something
    assert abs(bf16 - fp32) <= 0.02 * fp32, (fp32, bf16)


def test_loader_workers_auto_is_none_on_cpu_and_bad_values_are_named(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    loader = datamodule(tiny_corpus, tmp_path / "cache").train_dataloader()
    assert loader.num_workers == 0 and not loader.pin_memory
    assert datamodule(tiny_corpus, tmp_path / "cache", num_workers=2).train_dataloader().num_workers == 2


@requires_cuda
def test_gpu_trainer_trains_a_few_steps_with_bf16_workers_and_pinned_memory(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    dm = datamodule(tiny_corpus, tmp_path / "cache")
    dm.trainer = L.Trainer(accelerator="gpu", devices=1, logger=False)
    loader = dm.train_dataloader()
    assert loader.pin_memory and loader.num_workers == min(4, os.cpu_count() or 1)
    train(tmp_path, "trainer=gpu", *TINY)
    (run,) = project_runs(tmp_path)
    assert run.data.params["trainer.precision"] == "bf16-mixed"
    assert run.data.params["trainer.accelerator"] == "gpu"
    assert run.data.metrics["train/steps"] == 2
