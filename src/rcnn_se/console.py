"""What a job prints when it ends: its scores overall and per test SNR, so a user sees the outcome without
opening the MLflow UI (the run id says where the rest is)."""

from __future__ import annotations

import math

from rcnn_se.tables import METRICS

HEADLINE = ("pesq_wb", "stoi", "csig", "cbak", "covl", "si_sdr", "nr", "sd")  # shown as the tables name them


def score_table(summary: dict[str, float], prefix: str) -> str:
    """One scored set (`prefix` = test or realcheck) as a fixed-width table: a row for the whole set, then one
    per test SNR, a column for each headline metric the summary holds."""
    snrs = {key.split("/")[1] for key in summary if key.startswith(f"{prefix}/snr_")}
    columns = [(key, METRICS[key]) for key in HEADLINE if f"{prefix}/{key}" in summary]
    rows = [("all", f"{prefix}/")]
    rows += [(f"{snr[4:]} dB", f"{prefix}/{snr}/") for snr in sorted(snrs, key=lambda s: float(s[4:]))]
    n = summary.get(f"{prefix}/n_utterances", math.nan)
    header = f"{'SNR':>8} " + " ".join(f"{label:>8}" for _, label in columns)
    lines = [f"{prefix}: {n:.0f} utterances", header]
    for name, key in rows:
        lines.append(f"{name:>8} " + " ".join(f"{summary.get(key + k, math.nan):8.3f}" for k, _ in columns))
    return "\n".join(lines)


def job_report(summaries: dict[str, dict[str, float]], run_id: str, tracking_uri: str) -> str:
    """The closing lines of a job: each scored set's table, then where the run lives."""
    tables = [score_table(summary, prefix) for prefix, summary in summaries.items()]
    where = f"MLflow run {run_id} in {tracking_uri}: browse it with `make ui`"
    return "\n\n".join([*tables, where])
