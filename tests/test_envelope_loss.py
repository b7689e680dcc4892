"""The band-envelope loss (`training.envelope_loss`) tracks what STOI measures and trains."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pystoi import stoi

from helpers.audio import speechlike
from rcnn_se.data.features import StftConfig, stft
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.envelope_loss import envelope_correlation_loss, third_octave_matrix
from rcnn_se.training.system import EnhancementSystem


def magnitude(wave: np.ndarray) -> torch.Tensor:
    return stft(torch.from_numpy(wave.astype(np.float32)), StftConfig()).abs()[None, None]


def test_bands_are_stois_third_octaves() -> None:
    bands = third_octave_matrix(512, 16000)
    assert bands.shape == (15, 257)
    assert torch.all(bands.sum(0) <= 1)  # no bin in two bands
    assert torch.all(bands.sum(1) >= 1)  # no empty band
    hz = torch.linspace(0, 8000, 257)
    assert hz[bands[0].bool()].min() >= 150 * 2 ** (-1 / 6)
    assert hz[bands[-1].bool()].max() < 150 * 2 ** (14 / 3 + 1 / 6)
    with pytest.raises(ValueError, match="above Nyquist"):
        third_octave_matrix(256, 8000)


def test_loss_is_zero_for_the_clean_envelope_at_any_gain_and_grows_as_stoi_falls() -> None:
    rng = np.random.default_rng(0)
    clean = speechlike(3.0, 16000)
    target = magnitude(clean)
    frames = torch.tensor([target.shape[-1]])
    bands = third_octave_matrix(512, 16000)
    assert envelope_correlation_loss(target * 0.3, target, frames, bands) < 1e-6
    losses, stois = [], []
    for snr in (20, 5, -5):
        noise = rng.standard_normal(len(clean)) * clean.std() / 10 ** (snr / 20)
        losses.append(float(envelope_correlation_loss(magnitude(clean + noise), target, frames, bands)))
        stois.append(stoi(clean, clean + noise, 16000))
    assert losses[0] < losses[1] < losses[2]
    assert stois[0] > stois[1] > stois[2]


def test_padding_and_silent_segments_do_not_count() -> None:
    clean = magnitude(speechlike(1.0, 16000))[..., :64]
    noisy = clean + torch.rand(clean.shape, generator=torch.Generator().manual_seed(1))
    bands = third_octave_matrix(512, 16000)
    alone = envelope_correlation_loss(noisy, clean, torch.tensor([40]), bands)
    padded = noisy.clone()
    padded[..., 40:] = 99.0  # what the padding holds must not matter
    assert torch.isclose(alone, envelope_correlation_loss(padded, clean, torch.tensor([40]), bands))
    pause = torch.cat([clean, clean * 1e-4])  # a second item 80 dB down: a pause
    both = envelope_correlation_loss(
        torch.cat([noisy, torch.rand_like(noisy)]), pause, torch.tensor([40, 40]), bands
    )
    assert torch.isclose(both, alone)


def test_the_system_adds_the_term_only_when_weighted() -> None:
    torch.manual_seed(0)
    noisy, clean = torch.rand(2, 1, 257, 64) * 3, torch.rand(2, 1, 257, 64) * 3
    plain = EnhancementSystem(SpectralCNN(channels=4))
    weighted = EnhancementSystem(SpectralCNN(channels=4), envelope_weight=0.5)
    weighted.model.load_state_dict(plain.model.state_dict())
    assert plain.bands is None and "bands" not in weighted.state_dict()  # checkpoints stay as they were
    with torch.no_grad():
        base, extra = plain._step((noisy, clean), "val"), weighted._step((noisy, clean), "val")
    estimate = torch.expm1(plain(torch.log1p(noisy)))
    envelope = envelope_correlation_loss(estimate, clean, torch.tensor([64, 64]), weighted.bands)
    assert torch.isclose(extra, base + 0.5 * envelope, rtol=1e-4)


@pytest.mark.slow
def test_a_bf16_fit_with_the_term_lowers_it() -> None:
    """The term under bf16 autocast in a real Lightning fit: logged, finite, and trained down."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    clean = [magnitude(np.roll(speechlike(2.0, 16000), 1500 * i))[0, :, :, :64] for i in range(8)]
    noisy = [c + magnitude(rng.standard_normal(32000) * 0.1)[0, :, :, :64] for c in clean]
    data = DataLoader(TensorDataset(torch.stack(noisy), torch.stack(clean)), batch_size=4)
    system = EnhancementSystem(
        SpectralCNN(channels=6, kernel_size=3),
        lambda params: torch.optim.Adam(params, lr=1e-2),
        envelope_weight=1.0,
    )
    trainer = L.Trainer(
        max_steps=60,
        precision="bf16-mixed",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    before = trainer.validate(system, data, verbose=False)[0]["val/envelope"]
    trainer.fit(system, data, data)
    after = trainer.callback_metrics["val/envelope"].item()
    assert np.isfinite(after) and after < before
