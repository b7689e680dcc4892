"""Test evaluation: enhance every test utterance, score it, and break the scores down by SNR and noise type.

Inference runs in this process while the per-utterance metrics run in a `MetricPool` of worker processes,
so evaluation scales with the cores.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rcnn_se.data.cache import FeatureCache
from rcnn_se.data.features import istft, stft, with_phase_of
from rcnn_se.metric_pool import MetricPool
from rcnn_se.metrics import nr_sd

Enhancer = Callable[[torch.Tensor], torch.Tensor]  # noisy magnitude [B, 1, F, T] -> enhanced magnitude
LABELS = ("uid", "speaker", "noise", "snr")


@dataclass
class Enhanced:
    uid: str
    clean: np.ndarray
    noisy: np.ndarray
    enhanced: np.ndarray
    nrsd: dict[str, float]


@torch.inference_mode()
def enhance_utterances(enhancer: Enhancer, cache: FeatureCache, indices: list[int]) -> Iterator[Enhanced]:
    """Yield each test utterance enhanced with the noisy phase, plus its NR/SD from the effective gain."""
    cfg = cache.stft
    for i in indices:
        clean, noisy = cache.wave(i, "clean"), cache.wave(i, "noisy")
        clean_spec, noisy_spec = stft(clean, cfg), stft(noisy, cfg)
        noisy_mag = noisy_spec.abs()
        est_mag = enhancer(noisy_mag[None, None])[0, 0].float()
        wave = istft(with_phase_of(est_mag, noisy_spec), cfg, length=len(noisy)).numpy()
        gain = (est_mag / noisy_mag.clamp_min(1e-8)).numpy()
        scores = nr_sd(clean_spec.numpy(), (noisy_spec - clean_spec).numpy(), gain)
        yield Enhanced(cache.items[i].uid, clean, noisy, wave, scores)


def evaluate(
    enhancer: Enhancer,
    cache: FeatureCache,
    *,
    pool: MetricPool | None = None,
    workers: int | str | None = "auto",
    full: bool = True,
    max_utterances: int | None = None,
    on_enhanced: Callable[[Enhanced], None] | None = None,
) -> list[dict[str, float | str]]:
    """One row per test utterance: its labels, NR/SD and the quality metrics.

    Pass a `pool` started earlier (as a training job does) to find its workers ready; without one, a pool of
    `workers` is started here and its start-up is part of the evaluation time (`workers` and `full` only
    apply to such a pool of its own).
    """
    if pool is None:
        with MetricPool(workers, full=full) as own:
            return evaluate(enhancer, cache, pool=own, max_utterances=max_utterances, on_enhanced=on_enhanced)
    indices = list(range(len(cache.items)))[:max_utterances]
    fs = cache.stft.sample_rate
    pending: list[tuple[int, dict[str, float], Future]] = []
    for i, item in zip(indices, enhance_utterances(enhancer, cache, indices), strict=True):
        if on_enhanced is not None:
            on_enhanced(item)
        pending.append((i, item.nrsd, pool.submit(item.clean, item.enhanced, fs)))
    rows = []
    for i, nrsd, scores in pending:
        u = cache.items[i]
        rows.append(
            {"uid": u.uid, "speaker": u.speaker, "noise": u.noise, "snr": u.snr, **nrsd, **scores.result()}
        )
    return rows


def metric_names(rows: list[dict[str, float | str]]) -> list[str]:
    return [k for k in rows[0] if k not in LABELS] if rows else []


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def snr_label(snr: float) -> str:
    return f"{snr:g}"


def summarize(rows: list[dict[str, float | str]], prefix: str = "test") -> dict[str, float]:
    """Means overall, per SNR and per noise type, keyed as MLflow metric names.

    Keys: `test/<metric>`, `test/snr_<snr>/<metric>`, `test/noise_<label>/<metric>`; NaN scores (PESQ's
    refusals) are left out of the means and counted in `test/<metric>_nan`, logged only when non-zero.
    """
    names = metric_names(rows)
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[prefix].append(row)
        groups[f"{prefix}/snr_{snr_label(float(row['snr']))}"].append(row)
        groups[f"{prefix}/noise_{row['noise']}"].append(row)
    out: dict[str, float] = {}
    for group, members in groups.items():
        out[f"{group}/n_utterances"] = float(len(members))
        for name in names:
            out[f"{group}/{name}"] = _mean([float(r[name]) for r in members])
    for name in names:
        refused = sum(math.isnan(float(r[name])) for r in rows)
        if refused:
            out[f"{prefix}/{name}_nan"] = float(refused)
    return out


def write_rows(rows: list[dict[str, float | str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict[str, float | str]]:
    with path.open(newline="") as fh:
        return [
            {k: (v if k in ("uid", "speaker", "noise") else float(v)) for k, v in r.items()}
            for r in csv.DictReader(fh)
        ]
