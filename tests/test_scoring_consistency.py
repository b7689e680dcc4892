"""One score per output: the logged scores are those of the written files, and every row carries its
improvement over the noisy input and the energies NR/SD are pooled from."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.audio import write_pair_corpus
from rcnn_se.data.audio import read_wav, write_wav
from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig
from rcnn_se.evaluation.noisy_reference import NoisyReference
from rcnn_se.evaluation.scoring import EnhancedUtterance, evaluate, summarize
from rcnn_se.metrics import utterance_metrics
from rcnn_se.metrics.names import METRICS
from rcnn_se.metrics.pool import MetricPool


def near_silent_pauses(mag: torch.Tensor) -> torch.Tensor:
    """Keeps the middle, and turns the rest to far under one 16-bit step: what a network without a gain
    floor does to pauses, and where float and file scores used to part."""
    gain = torch.full((mag.shape[-1],), 1e-6)
    gain[mag.shape[-1] // 3 : 2 * mag.shape[-1] // 3] = 0.8
    return mag * gain


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path, object]:
    tmp = tmp_path_factory.mktemp("scoring")
    entries = [("p232_001", "cafe", 2.5), ("p232_002", "bus", 17.5), ("p257_001", "office", 7.5)]
    root = write_pair_corpus(tmp / "corpus", "test", entries, sr=16000, seconds=1.2)
    cache = build_cache(scan_split(root, "test"), StftConfig(), tmp / "cache")

    def keep(item: EnhancedUtterance) -> None:
        write_wav(tmp / "out" / f"{item.uid}.wav", item.enhanced, 16000)

    with MetricPool(0) as pool:
        rows = evaluate(near_silent_pauses, cache, pool=pool, on_enhanced=keep)
    return rows, tmp, cache


def test_scores_equal_those_of_the_written_files(scored) -> None:
    rows, tmp, cache = scored
    for i, row in enumerate(rows):
        written, sr = read_wav(tmp / "out" / f"{row['uid']}.wav")
        clean, _ = read_wav(tmp / "corpus" / "clean_testset_wav" / f"{row['uid']}.wav")
        assert np.array_equal(clean, cache.wave(i, "clean"))
        from_file = utterance_metrics(clean, written, sr)
        for name, value in from_file.items():
            if not math.isnan(value):
                assert abs(row[name] - value) < 0.01, (row["uid"], name, row[name], value)


def test_rows_carry_the_noisy_input_and_the_improvement(scored) -> None:
    rows, tmp, cache = scored
    for i, row in enumerate(rows):
        noisy, _ = read_wav(tmp / "corpus" / "noisy_testset_wav" / f"{row['uid']}.wav")
        before = utterance_metrics(cache.wave(i, "clean"), noisy, 16000)
        for name in ("pesq_wb", "stoi", "si_sdr", "csig", "covl"):
            assert row[f"noisy.{name}"] == pytest.approx(before[name], abs=1e-6, nan_ok=True)
            assert row[f"delta.{name}"] == pytest.approx(row[name] - before[name], abs=1e-9, nan_ok=True)
    assert NoisyReference(cache, [0, 1, 2], MetricPool(0)).pending == []  # scored once, then cached


def test_nr_sd_per_utterance_mean_and_pooled(scored) -> None:
    rows = scored[0]
    summary = summarize(rows)
    assert summary["test/nr"] == pytest.approx(np.mean([r["nr"] for r in rows]))
    noise_in = sum(r["e.noise_in"] for r in rows)
    assert summary["test/nr_pooled"] == pytest.approx(1 - sum(r["e.noise_out"] for r in rows) / noise_in)
    speech_in = sum(r["e.speech_in"] for r in rows)
    assert summary["test/sd_pooled"] == pytest.approx(sum(r["e.distortion"] for r in rows) / speech_in)
    assert summary["test/delta.pesq_wb"] == pytest.approx(np.nanmean([r["delta.pesq_wb"] for r in rows]))
    assert "test/noisy.pesq_wb" not in summary and "test/e.noise_in" not in summary
    pooled = [k.removeprefix("test/") for k in summary if k.count("/") == 1 and k.endswith("_pooled")]
    assert sorted(pooled) == ["nr_db_pooled", "nr_pooled", "sd_db_pooled", "sd_pooled"]
    assert set(pooled) <= set(METRICS), "every pooled metric has a table name"
