"""The spectral-balance augmentation: bounded, smooth, the same on both sides of a pair, training only."""

from __future__ import annotations

import lightning as L
import torch

from conftest import small_system
from rcnn_se.data.augment import equalize, random_response
from rcnn_se.data.datamodule import EdinburghDataModule


def test_a_response_stays_within_its_range_and_is_smooth() -> None:
    gen = torch.Generator().manual_seed(0)
    gain = random_response(64, 257, 6.0, gen)
    assert gain.shape == (64, 1, 257, 1)
    db = 20 * torch.log10(gain.squeeze())
    assert db.abs().max() <= 6.0 + 1e-4
    assert db.abs().max() > 5.0  # the range is used, not just respected
    # a filter, not noise: anchors an octave apart change by at most 12 dB, so no bin-to-bin jump is larger
    # than that slope over the bins' distance in octaves (and the lowest octaves are flat)
    octaves = torch.log2(torch.arange(2, 257) / torch.arange(1, 256))
    assert ((db[:, 2:] - db[:, 1:-1]).abs() <= 12.0 * octaves + 1e-3).all()
    assert torch.equal(db[:, 0], db[:, 3])
    assert db.std(dim=0).mean() > 2.0  # items differ from each other
    assert torch.equal(random_response(3, 257, 0.0), torch.ones(3, 1, 257, 1))


def test_both_sides_of_a_pair_see_the_same_response() -> None:
    gen = torch.Generator().manual_seed(1)
    clean = torch.rand(8, 1, 257, 32) + 0.1
    noisy = clean + torch.rand(8, 1, 257, 32)
    eq_noisy, eq_clean = equalize(noisy, clean, 9.0, gen)
    assert not torch.allclose(eq_noisy, noisy)
    torch.testing.assert_close(eq_clean / clean, eq_noisy / noisy)  # the same gain per item and bin
    torch.testing.assert_close(eq_noisy / eq_clean, noisy / clean)  # every bin's SNR is kept


def test_only_training_batches_are_augmented(tiny_corpus, tmp_path) -> None:
    dm = EdinburghDataModule(
        str(tiny_corpus), str(tmp_path / "cache"), val_speakers=1, segment_frames=8, eq_augment_db=6.0
    )
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
    dm.trainer = trainer
    trainer.validating = True
    assert dm.on_after_batch_transfer(batch, 0) is batch
    trainer.training = True
    noisy, clean, valid = dm.on_after_batch_transfer(batch, 0)
    assert not torch.allclose(noisy, batch[0])
    assert torch.equal(valid, batch[2])
    real = batch[1] > 0
    torch.testing.assert_close(noisy[real] / clean[real], batch[0][real] / batch[1][real])


def test_a_fit_with_augmentation_prints_its_model_summary(tiny_corpus, tmp_path) -> None:
    """The summary runs the system's example input (a bare tensor) through the same batch hook."""
    dm = EdinburghDataModule(
        str(tiny_corpus), str(tmp_path / "cache"), val_speakers=1, segment_frames=8, eq_augment_db=6.0
    )
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=True,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(small_system(), datamodule=dm)
    assert trainer.global_step == 2
