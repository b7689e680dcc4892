"""Dynamic mixing (`data.remix`): the SNR it sets, the pools it draws from, what it leaves alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.audio import speechlike, write_pair_corpus
from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig
from rcnn_se.data.remix import RemixDataset, noise_stretch, remix_wave
from rcnn_se.data.segments import SegmentDataset
from rcnn_se.data.speech import active_power

SR = 16000


@pytest.mark.parametrize("snr", [0.0, 7.5, 15.0])
def test_remix_sets_the_snr_against_the_active_level(snr: float) -> None:
    clean = speechlike(1.5, SR)
    noise = np.random.default_rng(1).standard_normal(len(clean)).astype(np.float32)
    noisy = remix_wave(clean, noise, snr, active_power(clean, SR))
    measured = 10 * np.log10(active_power(clean, SR) / np.mean((noisy - clean) ** 2))
    assert measured == pytest.approx(snr, abs=0.01)


def test_silent_noise_or_speech_is_not_remixed() -> None:
    clean = speechlike(0.5, SR)
    assert remix_wave(clean, np.zeros_like(clean), 5.0, active_power(clean, SR)) is None
    assert remix_wave(clean, np.ones_like(clean), 5.0, 0.0) is None


def test_noise_stretch_wraps_around() -> None:
    assert noise_stretch(np.arange(5), 7, 3).tolist() == [3, 4, 0, 1, 2, 3, 4]


@pytest.fixture
def train_cache(tmp_path: Path):
    entries = [
        (f"p{230 + s}_{k:03d}", noise, snr)
        for s in range(3)
        for k, (noise, snr) in enumerate([("cafe", 0.0), ("bus", 5.0), ("cafe", 10.0), ("street", 15.0)])
    ]
    root = write_pair_corpus(tmp_path / "corpus", "train", entries, seconds=1.0)
    return build_cache(scan_split(root, "train"), StftConfig(), tmp_path / "cache")


def test_draws_come_from_the_selected_pool(train_cache) -> None:
    """With `snr=5` only the 5 dB utterances are chosen: every SNR drawn is 5 and every donor one of them."""
    chosen = [i for i, item in enumerate(train_cache.items) if item.snr == 5.0]
    data = RemixDataset(train_cache, chosen, segment_frames=32)
    torch.manual_seed(0)
    draws = [data.draw() for _ in range(200)]
    assert {snr for _, _, snr in draws} == {5.0}
    assert {donor for donor, _, _ in draws} == set(chosen)
    assert all(0 <= start < 1 for _, start, _ in draws)


def test_tiles_keep_their_clean_side_and_get_new_noise_each_draw(train_cache) -> None:
    indices = list(range(len(train_cache.items)))
    fixed, remixed = SegmentDataset(train_cache, indices, 32), RemixDataset(train_cache, indices, 32)
    assert len(remixed) == len(fixed)
    torch.manual_seed(0)
    first = remixed[3]
    torch.manual_seed(0)
    again = remixed[3]
    torch.manual_seed(1)
    other = remixed[3]
    corpus = fixed[3]
    assert torch.equal(first[1], corpus[1]) and torch.equal(first[2], corpus[2])  # clean tile, valid frames
    assert first[0].shape == corpus[0].shape
    assert torch.equal(first[0], again[0])  # the seed fixes the mixture
    assert not torch.allclose(first[0], other[0])  # another draw, another mixture
    assert not torch.allclose(first[0], corpus[0])


def test_the_data_module_remixes_training_batches_only(tmp_path: Path) -> None:
    """`data.remix=true`: the training loader serves remixed segments, validation the corpus's own pairs;
    the default serves the corpus's pairs everywhere."""
    from rcnn_se.data.datamodule import EdinburghDataModule

    entries = [(f"p{230 + s}_{k:03d}", "cafe", snr) for s in range(4) for k, snr in enumerate([0.0, 5.0])]
    root = write_pair_corpus(tmp_path / "corpus", "train", entries, seconds=1.0)
    write_pair_corpus(root, "test", [("p257_001", "bus", 2.5)], seconds=1.0)
    for remix, kind in ((True, RemixDataset), (False, SegmentDataset)):
        data = EdinburghDataModule(
            str(root), str(tmp_path / "cache"), val_speakers=1, segment_frames=32, remix=remix
        )
        data.setup("fit")
        assert type(data.train_dataloader().dataset) is kind
        assert type(data.val_dataloader().dataset) is SegmentDataset
