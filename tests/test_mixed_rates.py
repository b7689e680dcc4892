"""A corpus whose files do not all share one sample rate, as happens when a pair is copied in from another
copy of the corpus: an 8 kHz pair among 48 kHz ones is resampled and used like the rest, but named in a
warning, counted in the run's params and listed among its rates; a pair whose clean and noisy files
disagree is refused, naming both."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from helpers.audio import write_pair_corpus
from helpers.jobs import train
from helpers.store import job_runs
from rcnn_se.data.audio import AudioError, write_wav
from rcnn_se.data.datamodule import EdinburghDataModule

TRAIN = [(f"p{s}_{i:03d}", noise, snr) for s in (301, 302, 303) for i, (noise, snr) in enumerate(
    [("white", 15.0), ("pink", 10.0)])]  # fmt: skip
TEST = [("p232_001", "babble", 17.5), ("p232_002", "cafe", 2.5), ("p257_001", "bus", 7.5)]


def corpus_with_an_8k_pair_per_split(root: Path) -> list[Path]:
    """A 48 kHz corpus in which one training pair and one test pair are 8 kHz; their clean files."""
    write_pair_corpus(root, "train", TRAIN, sr=48000)
    write_pair_corpus(root, "test", TEST, sr=48000)
    odd = []
    for folder, uid in (("trainset_28spk_wav", "p302_001"), ("testset_wav", "p257_001")):
        tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(4000) / 8000)
        write_wav(root / f"clean_{folder}" / f"{uid}.wav", tone, 8000)
        write_wav(root / f"noisy_{folder}" / f"{uid}.wav", tone + 0.01, 8000)
        odd.append(root / f"clean_{folder}" / f"{uid}.wav")
    return odd


def datamodule(root: Path, cache: Path) -> EdinburghDataModule:
    dm = EdinburghDataModule(root=str(root), cache_dir=str(cache), segment_frames=16, num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_a_pair_at_another_rate_is_named_counted_and_resampled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train_odd, test_odd = corpus_with_an_8k_pair_per_split(tmp_path / "c")
    with caplog.at_level(logging.WARNING, logger="rcnn_se.data.datamodule"):
        dm = datamodule(tmp_path / "c", tmp_path / "cache")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"data.root={tmp_path / 'c'}: test split: 1 of 3 pairs are not at the split's 48000 Hz: {test_odd} "
        "(8000 Hz); all are resampled to 16000 Hz, but files at 8000 Hz hold nothing above 4000 Hz "
        "(data.source_sample_rate=48000 refuses them)",
        f"data.root={tmp_path / 'c'}: train split: 1 of 6 pairs are not at the split's 48000 Hz: {train_odd} "
        "(8000 Hz); all are resampled to 16000 Hz, but files at 8000 Hz hold nothing above 4000 Hz "
        "(data.source_sample_rate=48000 refuses them)",
    ]
    assert dm.summary["data.file_sample_rate"] == "8000 48000"
    assert dm.summary["data.n_odd_rate_pairs"] == 2
    at = dm.test_cache.by_uid["p257_001"]
    assert dm.test_cache.items[at].wave_len == 8000, "0.5 s at 8 kHz is 0.5 s at the model's 16 kHz"

    caplog.clear()  # a second job on the same corpus reads the cache, and still says so
    with caplog.at_level(logging.WARNING, logger="rcnn_se.data.datamodule"):
        datamodule(tmp_path / "c", tmp_path / "cache")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_one_rate_per_split_warns_of_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_pair_corpus(tmp_path / "c", "train", TRAIN, sr=16000)
    write_pair_corpus(tmp_path / "c", "test", TEST, sr=48000)  # a split may differ from the other
    with caplog.at_level(logging.WARNING, logger="rcnn_se.data.datamodule"):
        dm = datamodule(tmp_path / "c", tmp_path / "cache")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert dm.summary["data.file_sample_rate"] == "16000 48000" and dm.summary["data.n_odd_rate_pairs"] == 0


def test_a_pair_whose_two_files_disagree_in_rate_is_refused(tmp_path: Path) -> None:
    root = write_pair_corpus(tmp_path / "c", "test", TEST, sr=48000)
    noisy = root / "noisy_testset_wav" / "p232_002.wav"
    write_wav(noisy, np.zeros(4000), 8000)
    with pytest.raises(
        AudioError, match=rf"{noisy}: sample rate 8000 Hz differs from its clean partner .*48000"
    ):
        datamodule(root, tmp_path / "cache")


@pytest.mark.slow
def test_train_reports_and_logs_the_pairs_at_another_rate(tmp_path: Path) -> None:
    odd = corpus_with_an_8k_pair_per_split(tmp_path / "corpus")
    proc = train(
        tmp_path,
        "data=voicebank",
        f"data.root={tmp_path / 'corpus'}",
        "data.segment_frames=16",
        "data.num_workers=0",
        "model.channels=8",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "evaluate.workers=2",
        "evaluate.n_audio_examples=1",
        "realcheck.enabled=false",
        "callbacks.rich_progress_bar=null",
    )
    printed = proc.stdout + proc.stderr
    assert all(f"{path} (8000 Hz)" in printed for path in odd)
    (run,) = job_runs(tmp_path)
    assert run.data.params["data.file_sample_rate"] == "8000 48000"
    assert run.data.params["data.n_odd_rate_pairs"] == "2"
