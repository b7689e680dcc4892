"""Test evaluation: enhance every test utterance, score it, and break the scores down by SNR and noise type.

Inference runs in this process while the per-utterance metrics run in a `MetricPool` of worker processes,
so evaluation scales with the cores. Each output is scored as it is written to a 16-bit file
(`as_written`), so the logged scores are those of the files a user gets. A row also holds the noisy input's
scores (`noisy.<metric>`), the improvement over it (`delta.<metric>`) and the four NR/SD energy sums
(`e.<sum>`), from which `summarize` pools NR and SD over a whole set.
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

from rcnn_se.data.audio import as_written
from rcnn_se.data.cache import FeatureCache
from rcnn_se.data.features import enhance_waveform, stft
from rcnn_se.evaluation.noisy_reference import NoisyReference
from rcnn_se.metrics.nrsd import effective_gain, energies, ratios
from rcnn_se.metrics.pool import MetricPool

LABELS = ("uid", "speaker", "noise", "snr")
AUX = ("noisy.", "delta.", "e.")  # per-utterance columns that are not metrics of the output itself


@dataclass
class EnhancedUtterance:
    uid: str
    clean: np.ndarray
    noisy: np.ndarray
    enhanced: np.ndarray
    energies: dict[str, float]  # of NR/SD (`metrics.nrsd.energies`); the ratios are `ratios(energies)`


@torch.inference_mode()
def enhance_utterances(
    enhancer: Callable[[torch.Tensor], torch.Tensor], cache: FeatureCache, indices: list[int]
) -> Iterator[EnhancedUtterance]:
    """Yield each test utterance enhanced with the noisy phase (`enhance_waveform`, through `enhancer`: a
    system's SpectralEnhancer), as written to a 16-bit file, plus the NR/SD energy sums of its gain."""
    cfg = cache.stft
    for i in indices:
        clean, noisy = cache.wave(i, "clean"), cache.wave(i, "noisy")
        out = enhance_waveform(enhancer, noisy, cfg)
        clean_spec = stft(clean, cfg)
        gain = effective_gain(out.magnitude.numpy(), out.noisy_spec.abs().numpy())
        sums = energies(clean_spec.numpy(), (out.noisy_spec - clean_spec).numpy(), gain)
        yield EnhancedUtterance(cache.items[i].uid, clean, noisy, as_written(out.wave.numpy()), sums)


def evaluate(
    enhancer: Callable[[torch.Tensor], torch.Tensor],
    cache: FeatureCache,
    *,
    pool: MetricPool | None = None,
    workers: int | str | None = "auto",
    full: bool = True,
    max_utterances: int | None = None,
    on_enhanced: Callable[[EnhancedUtterance], None] | None = None,
) -> list[dict[str, float | str]]:
    """One row per test utterance: its labels, NR/SD, the quality metrics, and (`AUX`) the noisy input's
    scores, the improvement over them and the NR/SD energy sums.

    Pass a `pool` started earlier (as a training job does) to find its workers ready; without one, a pool of
    `workers` is started here and its start-up is part of the evaluation time (`workers` and `full` only
    apply to such a pool of its own).
    """
    if pool is None:
        with MetricPool(workers, full=full) as own:
            return evaluate(enhancer, cache, pool=own, max_utterances=max_utterances, on_enhanced=on_enhanced)
    indices = list(range(len(cache.items)))[:max_utterances]
    fs = cache.stft.sample_rate
    reference = NoisyReference(cache, indices, pool)
    pending: list[tuple[int, dict[str, float], Future]] = []
    for i, item in zip(indices, enhance_utterances(enhancer, cache, indices), strict=True):
        if on_enhanced is not None:
            on_enhanced(item)
        pending.append((i, item.energies, pool.submit(item.clean, item.enhanced, fs)))
    noisy = reference.scores()
    rows = []
    for i, sums, future in pending:
        u = cache.items[i]
        scores, before = future.result(), noisy[u.uid]
        rows.append(
            {"uid": u.uid, "speaker": u.speaker, "noise": u.noise, "snr": u.snr, **ratios(sums), **scores}
            | {f"noisy.{k}": before[k] for k in scores}
            | {f"delta.{k}": scores[k] - before[k] for k in scores}
            | {f"e.{k}": v for k, v in sums.items()}
        )
    return rows


def metric_names(rows: list[dict[str, float | str]]) -> list[str]:
    """The scores of the output itself (not labels, not `AUX` columns)."""
    return [k for k in rows[0] if k not in LABELS and not k.startswith(AUX)] if rows else []


def noisy_input_rows(rows: list[dict[str, float | str]]) -> list[dict[str, float | str]]:
    """The noisy input's own rows, from the `noisy.<metric>` columns: the labels and its scores, with NR and
    SD zero (the unprocessed input removes no noise and distorts no speech), to summarize like a model's."""
    out = []
    for row in rows:
        scores = {k.removeprefix("noisy."): v for k, v in row.items() if k.startswith("noisy.")}
        out.append({k: row[k] for k in LABELS if k in row} | {"nr": 0.0, "sd": 0.0} | scores)
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


POOLED = ("noise_in", "noise_out", "speech_in", "distortion")


def snr_label(snr: float) -> str:
    return f"{snr:g}"


def summarize(rows: list[dict[str, float | str]], prefix: str = "test") -> dict[str, float]:
    """Means overall, per SNR and per noise type, keyed as MLflow metric names.

    Keys: `test/<metric>`, `test/snr_<snr>/<metric>`, `test/noise_<label>/<metric>`; NaN scores (PESQ's
    refusals) are left out of the means and counted in `test/<metric>_nan`, logged only when non-zero.
    `nr`/`sd` (and dB forms) are per-utterance means; `nr_pooled`/`sd_pooled` (and `_db`) are the ratios
    of the energies summed over the group. `test/delta.<metric>` is the mean improvement over the noisy
    input (whole set only).
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
        if "e.noise_in" in members[0]:
            sums = {k: math.fsum(float(r[f"e.{k}"]) for r in members) for k in POOLED}
            out.update({f"{group}/{k}_pooled": v for k, v in ratios(sums).items()})
    deltas = [k for k in (rows[0] if rows else {}) if k.startswith("delta.")]
    out.update({f"{prefix}/{k}": _mean([float(r[k]) for r in rows]) for k in deltas})
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
