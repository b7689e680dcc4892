"""Small signals and Edinburgh-layout corpora written as real wav files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rcnn_se.data.audio import write_wav
from rcnn_se.data.corpus import SPLITS

SR = 16000


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


def speechlike(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    return 0.3 * np.sin(2 * np.pi * 220 * t) * (
        1 + np.sin(2 * np.pi * 3 * t)
    ) / 2 + 0.05 * rng.standard_normal(len(t))


def voiced(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Harmonics of a gliding pitch under a syllable-rate envelope: speech-like structure to learn."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    return 0.1 * x * np.clip(np.sin(2 * np.pi * rng.uniform(2, 4) * t), 0, None)
