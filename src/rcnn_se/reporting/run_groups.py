"""Finished runs grouped into configurations, one run per seed, with 95 % intervals over the seeds.

Pure functions of `RunRecord`s, so the statistics and the grouping are testable without an MLflow store.
Two runs are one configuration when they differ only in operational params (where or how a job ran: paths,
devices, worker counts); a configuration run twice with one seed keeps its newest run, and the older one is
reported as superseded rather than silently averaged in.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from rcnn_se.reporting.tables_render import Stat
from rcnn_se.tracking.run_metadata import OPERATIONAL

# Params that copy others (a baseline's model.stft is data.stft): never a difference worth a label.
HIDDEN = OPERATIONAL + tuple("model.dropout model.activation model.name model.stft. data.snr data.n_".split())


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    run_name: str
    start_time: int  # ms since the epoch, as MLflow keeps it
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.params.get("choice.model") or self.tags.get("rcnn_se.model", "?")


def canonical(value: object) -> str:
    """'0', '0.0' and '0.' are one dropout: numbers compare by value, everything else as text."""
    try:
        return repr(float(str(value)))
    except ValueError:
        return str(value)


def mean_ci(values: Sequence[float]) -> Stat:
    """Mean and 95 % half-width t(0.975, n-1)·s/√n: seeds are few, so Student's t, not the normal 1.96."""
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return Stat(mean, None, 1)
    from scipy.stats import t

    half = float(t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return Stat(mean, half, len(values))


@dataclass
class ConfigGroup:
    """One configuration: one run per seed (the newest when a seed ran more than once)."""

    runs: list[RunRecord]
    superseded: list[tuple[RunRecord, RunRecord]]  # (older duplicate, the run kept instead)

    @property
    def params(self) -> Mapping[str, str]:
        return self.runs[0].params

    @property
    def model(self) -> str:
        return self.runs[0].model

    def stat(self, metric: str) -> Stat | None:
        values = [r.metrics[metric] for r in self.runs if not math.isnan(r.metrics.get(metric, math.nan))]
        return mean_ci(values) if values else None


def config_key(params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, canonical(v)) for k, v in params.items() if not k.startswith(OPERATIONAL)))


def rank(order: Sequence[str], value: object) -> tuple[int, str]:
    known = [canonical(o) for o in order]
    value = canonical(value)
    return (known.index(value) if value in known else len(known), value)


def group_by_config(runs: Sequence[RunRecord]) -> list[ConfigGroup]:
    by_config: dict[tuple, dict[str, list[RunRecord]]] = {}
    for run in runs:
        seeds = by_config.setdefault(config_key(run.params), {})
        seeds.setdefault(canonical(run.params.get("seed", "")), []).append(run)
    groups = []
    for seeds in by_config.values():
        kept, superseded = [], []
        for same_seed in seeds.values():
            newest, *older = sorted(same_seed, key=lambda r: (r.start_time, r.run_id), reverse=True)
            kept.append(newest)
            superseded += [(old, newest) for old in older]
        groups.append(ConfigGroup(sorted(kept, key=lambda r: r.start_time), superseded))
    return groups


def labelled(base: Sequence[str], groups: Sequence[ConfigGroup], hide: Collection[str] = ()) -> list[str]:
    """Row labels: a base name plus the params where the group departs from the most common value among
    `groups` (the shortest honest way to tell rows apart); a run id settles any tie that remains. A param a
    group lacks is not applicable to it, so no difference."""
    parts: list[list[str]] = [[] for _ in groups]
    keys = {k for g in groups for k in g.params if not (k in hide or k.startswith(HIDDEN) or k.endswith("_"))}
    for key in sorted(keys):
        present = [(i, canonical(g.params[key])) for i, g in enumerate(groups) if key in g.params]
        counts = Counter(value for _, value in present)
        modal = max(sorted(counts), key=counts.__getitem__)
        for i in (i for i, value in present if value != modal):
            parts[i].append(f"{key.removeprefix('choice.')}={groups[i].params[key]}")
    labels = [f"{b} ({', '.join(p)})" if p else b for b, p in zip(base, parts, strict=True)]
    ties = Counter(labels)
    return [
        f"{lb} [{g.runs[0].run_id[:8]}]" if ties[lb] > 1 else lb for lb, g in zip(labels, groups, strict=True)
    ]
