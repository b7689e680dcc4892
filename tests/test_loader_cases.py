"""The corpus as users hold it: 16 or 48 kHz copies, folders without p286/p287, and a test split alone.

Each case is a small Edinburgh-layout folder of real wav files written by `write_pair_corpus`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.audio import write_pair_corpus
from rcnn_se.data.audio import read_wav
from rcnn_se.data.corpus import CorpusError, derive_val_speakers, scan_split, split_by_speakers
from rcnn_se.data.datamodule import EdinburghDataModule

CONDITIONS = [("white", 15.0), ("pink", 10.0)]
TEST = [("p232_001", "babble", 17.5), ("p257_001", "cafe", 2.5)]


def corpus(root: Path, speakers: list[int] | None, sr: int = 16000) -> Path:
    if speakers is not None:
        train = [(f"p{s}_{i:03d}", n, snr) for s in speakers for i, (n, snr) in enumerate(CONDITIONS)]
        write_pair_corpus(root, "train", train, sr=sr)
    return write_pair_corpus(root, "test", TEST, sr=sr)


def datamodule(root: Path, cache: Path, **kwargs) -> EdinburghDataModule:
    dm = EdinburghDataModule(root=str(root), cache_dir=str(cache), segment_frames=16, **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_16k_and_48k_copies_both_load_without_a_flag(tmp_path: Path) -> None:
    loaded = {}
    for sr in (16000, 48000):
        dm = datamodule(corpus(tmp_path / f"c{sr}", [301, 302, 303], sr), tmp_path / "cache")
        assert dm.summary["data.file_sample_rate"] == str(sr)
        loaded[sr] = dm
    for dm in loaded.values():  # 0.5 s at the model's 16 kHz either way
        assert [it.wave_len for it in dm.test_cache.items] == [8000, 8000]
        assert len(dm.train_indices) == 2 and len(dm.val_indices) == 4
    native, _ = read_wav(tmp_path / "c16000" / "clean_testset_wav" / "p232_001.wav")
    assert np.array_equal(loaded[16000].test_cache.wave(0, "clean"), native)  # no resampling at 16 kHz
    resampled = loaded[48000].test_cache.wave(0, "clean")
    assert np.sqrt(np.mean((resampled - native) ** 2)) < 0.01 * np.sqrt(np.mean(native**2))


def test_a_declared_rate_is_still_checked(tmp_path: Path) -> None:
    root = corpus(tmp_path / "c", [301, 302], 16000)
    with pytest.raises(ValueError, match=r"sample rate 16000 Hz, but data.source_sample_rate=48000"):
        datamodule(root, tmp_path / "cache", source_sample_rate=48000)


@pytest.mark.parametrize(
    ("speakers", "held"),
    [
        ([226, 227, 286, 287], ["p286", "p287"]),  # the real corpus's two
        ([226, 286, 287, 301], ["p286", "p287"]),  # wherever they sort
        ([226, 227, 286, 301], ["p286", "p301"]),  # only one of them: the last two instead
        ([301, 302], ["p302"]),  # two speakers: one trains, one validates
        ([301], []),  # one speaker: nothing to hold out
    ],
)
def test_validation_speakers_are_derived(tmp_path: Path, speakers: list[int], held: list[str]) -> None:
    assert derive_val_speakers([f"p{s}" for s in speakers]) == held
    dm = datamodule(corpus(tmp_path / "c", speakers), tmp_path / "cache", val_speakers="auto")
    assert dm.summary["data.val_speaker_ids"] == (" ".join(held) or "none")
    train = scan_split(tmp_path / "c", "train")
    fit, val = split_by_speakers(train, "auto")
    assert sorted({u.speaker for u in val}) == held and len(fit) + len(val) == len(train)


def test_named_validation_speakers_must_exist(tmp_path: Path) -> None:
    root = corpus(tmp_path / "c", [301, 302, 303])
    with pytest.raises(CorpusError, match=r"unknown speakers \['p286', 'p287'\].*val_speakers=auto"):
        datamodule(root, tmp_path / "cache", val_speakers=["p286", "p287"])


def test_test_only_folder_scores_but_does_not_train(tmp_path: Path) -> None:
    dm = datamodule(corpus(tmp_path / "c", None), tmp_path / "cache")
    assert len(dm.test_cache.items) == 2 and dm.train_cache is None
    summary = dm.summary
    assert summary["data.n_train_utterances"] == 0 and summary["data.val_speaker_ids"] == "none"
    assert dm.val_dataloader() == []
    with pytest.raises(CorpusError, match=r"has no training split \(clean_trainset_28spk_wav.*cannot train"):
        dm.train_dataloader()


def test_a_partial_training_split_names_what_is_missing(tmp_path: Path) -> None:
    root = corpus(tmp_path / "c", [301, 302])
    (root / "log_trainset_28spk.txt").unlink()
    with pytest.raises(CorpusError, match=r"log_trainset_28spk.txt: log file not found"):
        datamodule(root, tmp_path / "cache")
