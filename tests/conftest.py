"""Shared fixtures: a tiny Edinburgh-layout corpus written as real wav files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rcnn_se.data.audio import write_wav
from rcnn_se.data.corpus import SPLITS


def write_pair_corpus(
    root: Path, split: str, entries: list[tuple[str, str, float]], sr: int = 16000, seconds: float = 0.5
) -> Path:
    """Write clean/noisy pairs of tones-plus-noise and the split's log file."""
    clean_name, noisy_name, log_name = SPLITS[split]
    rng = np.random.default_rng(0)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    lines = []
    for uid, noise, snr in entries:
        clean = 0.3 * np.sin(2 * np.pi * (200 + 10 * len(lines)) * t)
        noisy = clean + 0.05 * rng.standard_normal(n)
        write_wav(root / clean_name / f"{uid}.wav", clean, sr)
        write_wav(root / noisy_name / f"{uid}.wav", noisy, sr)
        lines.append(f"{uid} {noise} {snr:g}")
    (root / log_name).write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    train = [
        (f"p{s}_{i:03d}", noise, snr)
        for s in (301, 302, 303)
        for i, (noise, snr) in enumerate([("white", 15.0), ("pink", 10.0), ("white", 5.0), ("pink", 0.0)])
    ]
    write_pair_corpus(root, "train", train, sr=48000)
    write_pair_corpus(root, "test", [("p901_001", "babble", 17.5), ("p901_002", "cafe", 2.5)], sr=48000)
    return root


@pytest.fixture(scope="session", autouse=True)
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder (demo corpus + feature cache) for every training subprocess of the session: the
    corpus is deterministic and the cache keyed by content, so sharing changes no result, only the time."""
    import os

    folder = tmp_path_factory.mktemp("shared_data")
    os.environ["RCNN_SE_TEST_DATA"] = str(folder)
    return folder
