"""Paired statistics of two configurations scored on the same test utterances.

Two means say nothing about whether their difference exceeds the noise between utterances and seeds. Both
configurations are scored on the same utterances, so the difference is taken per utterance (each
configuration's score first averaged over its seeds), and reported as its mean with a bootstrap 95 %
interval (utterances resampled with replacement) and a Wilcoxon signed-rank p-value (no normality
assumed; NR and SD without a gain ceiling have heavy tails). With several seeds the spread of the
per-seed mean differences is reported too: the interval covers utterances, not training runs.
Pure functions of per-utterance rows, so testable without MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Rows = Sequence[Mapping[str, object]]  # one run's per-utterance rows (evaluation/test_utterances.csv)
BOOTSTRAP = 10_000
LOWER_IS_BETTER = {"sd", "sd_db", "llr", "wss"}


@dataclass(frozen=True)
class Paired:
    """Mean of (a - b) over utterances, its bootstrap 95 % interval, Wilcoxon p, and the seeds' spread."""

    metric: str
    mean: float
    low: float
    high: float
    p: float
    n_utterances: int
    seed_means: tuple[float, ...]  # per-seed mean differences, seeds matched by number (empty if none)

    def significant(self, alpha: float = 0.05) -> int:
        """+1 when a is significantly above b (interval above 0 and p < alpha), -1 below, 0 otherwise."""
        if self.p >= alpha or self.low <= 0 <= self.high:
            return 0
        return 1 if self.mean > 0 else -1

    def better(self) -> int:
        """`significant` turned into 'a is better' (+1) / 'b is better' (-1) for this metric's direction."""
        sign = self.significant()
        return -sign if self.metric in LOWER_IS_BETTER else sign


def scores_by_uid(rows: Rows, metric: str) -> dict[str, float]:
    """uid -> finite score (PESQ's refusals, NaN, are left out)."""
    out = {}
    for row in rows:
        value = float(row.get(metric, math.nan))  # type: ignore[arg-type]
        if math.isfinite(value):
            out[str(row["uid"])] = value
    return out


def seed_average(runs: Sequence[Rows], metric: str) -> dict[str, float]:
    """uid -> the score averaged over the runs (seeds) that scored that utterance."""
    per_run = [scores_by_uid(rows, metric) for rows in runs]
    uids = set().union(*per_run) if per_run else set()
    return {u: float(np.mean([r[u] for r in per_run if u in r])) for u in uids}


def p_value(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p; 1.0 when every difference is zero (nothing to rank)."""
    from scipy.stats import wilcoxon

    if not np.any(differences != 0):
        return 1.0
    return float(wilcoxon(differences).pvalue)


def bootstrap_interval(differences: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of the mean over BOOTSTRAP resamples of the utterances (fixed seed, so a
    table rebuilt from the same runs shows the same interval)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(differences), size=(BOOTSTRAP, len(differences)))
    means = differences[picks].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired(a: Mapping[str, Rows], b: Mapping[str, Rows], metric: str) -> Paired | None:
    """Compare configuration `a` with `b` ({seed: rows} each) on `metric`; None without shared utterances."""
    mean_a, mean_b = seed_average(list(a.values()), metric), seed_average(list(b.values()), metric)
    uids = sorted(mean_a.keys() & mean_b.keys())
    if not uids:
        return None
    diff = np.array([mean_a[u] - mean_b[u] for u in uids])
    low, high = bootstrap_interval(diff) if len(diff) > 1 else (diff[0], diff[0])
    seed_means = []
    for seed in sorted(a.keys() & b.keys()):
        sa, sb = scores_by_uid(a[seed], metric), scores_by_uid(b[seed], metric)
        shared = sa.keys() & sb.keys()
        if shared:
            seed_means.append(float(np.mean([sa[u] - sb[u] for u in shared])))
    return Paired(metric, float(diff.mean()), low, high, p_value(diff), len(uids), tuple(seed_means))


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def signed(value: float) -> str:
    return f"{value:+.3f}" if abs(value) < 100 else f"{value:+.1f}"


def describe(result: Paired, label: str, n_seeds: int) -> str:
    """E.g. `ΔPESQ-WB +0.210 [+0.150, +0.270], p < 0.001, 3 seeds (per seed +0.190 … +0.240)`."""
    text = f"Δ{label} {signed(result.mean)} [{signed(result.low)}, {signed(result.high)}], {p_text(result.p)}"
    text += f", {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if len(result.seed_means) > 1:
        text += f" (per seed {signed(min(result.seed_means))} … {signed(max(result.seed_means))})"
    return text
