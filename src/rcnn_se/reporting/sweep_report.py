"""A sweep's outcome in one place: its jobs compared, beside the noisy input, printed when the sweep ends and
logged with the sweep's parent run (`comparison/comparison.md`, `.csv`, `metrics_vs_snr.png`), so the
MLflow UI alone shows what the sweep found.

Everything comes from the jobs' logged metrics (overall `test/<metric>`, per SNR `test/snr_<snr>/<metric>`,
the noisy input's as `noisy/test/...`): the report can be rebuilt from the store at any time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rcnn_se.reporting.tables import METRICS
from rcnn_se.reporting.tables_render import Table, markdown_table, text, write_csv
from rcnn_se.tracking.run_metadata import configuration_overrides

COLUMNS = ("pesq_wb", "stoi", "csig", "cbak", "covl", "si_sdr", "nr", "sd")
FIGURE_METRICS = ("pesq_wb", "stoi", "si_sdr", "nr", "sd")
REAL_SETS = ("realcheck", "realnoise")  # real talkers in the demo test noises, and in real recorded noise
NOISY = "noisy input"
FOLDER = "comparison"


def short_labels(names: Sequence[str]) -> list[str]:
    """Each job's run name without the words every job shares (the training budget, say), keeping the
    model: `rcnn dropout=0.2` rather than the whole configuration."""
    words = [name.split() for name in names]
    common = set.intersection(*(set(w[1:]) for w in words)) if words else set()
    return [" ".join(w[:1] + [x for x in w[1:] if x not in common]) for w in words]


def configuration(run: Any) -> str:
    """A job's model and the overrides that change what it computes, in full (its run name may be cut short;
    paths, workers and callbacks such as a search trial's pruning left out), else its run name."""
    tags = run.data.tags
    if "rcnn_se.model" not in tags:
        return run.info.run_name or run.info.run_id
    typed = configuration_overrides(tags.get("rcnn_se.overrides", "").split())
    overrides = [o for o in typed if not o.startswith("model=")]
    return " ".join([tags["rcnn_se.model"], *overrides])


def job_runs(runs: Sequence[Any]) -> list[Any]:
    """The sweep's job runs in the order they started."""
    jobs = [r for r in runs if r.data.tags.get("rcnn_se.kind") == "job"]
    return sorted(jobs, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def noisy_metrics(jobs: Sequence[Any]) -> dict[str, float] | None:
    """The noisy input's scores as one job logged them (every job of a sweep scores the same test set)."""
    for run in jobs:
        found = {k.removeprefix("noisy/"): v for k, v in run.data.metrics.items() if k.startswith("noisy/")}
        if found:
            return found
    return None


def comparison_table(jobs: Sequence[Any]) -> Table:
    """One row per job (its status and overall test scores, its PESQ-WB on both real-speech sets), then the
    noisy input."""
    columns = [c for c in COLUMNS if any(f"test/{c}" in r.data.metrics for r in jobs)]
    labels = short_labels([configuration(r) for r in jobs])
    rows: list[list] = []
    for label, run in zip(labels, jobs, strict=True):
        m = run.data.metrics
        scores = [m.get(f"test/{c}") for c in columns]
        real = [m.get(f"{s}/pesq_wb") for s in REAL_SETS]
        rows.append([label, run.info.status, *scores, *real, run.info.run_id])
    noisy = noisy_metrics(jobs)
    if noisy is not None:
        real = [noisy.get(f"{s}/pesq_wb") for s in REAL_SETS]
        rows.append([NOISY, "", *[noisy.get(f"test/{c}") for c in columns], *real, ""])
    return Table(
        name="comparison",
        title="Sweep comparison: demo test set overall, real-speech check PESQ-WB (synthetic, real noise)",
        columns=[
            "job",
            "status",
            *[METRICS[c] for c in columns],
            *(f"{s} PESQ-WB" for s in REAL_SETS),
            "run",
        ],
        rows=rows,
    )


def snr_curves(metrics: dict[str, float], prefix: str = "test") -> dict[float, dict[str, float]]:
    """{snr: {metric: value}} from `<prefix>/snr_<snr>/<metric>` keys."""
    curve: dict[float, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == prefix and parts[1].startswith("snr_") and not math.isnan(value):
            curve.setdefault(float(parts[1][4:]), {})[parts[2]] = value
    return curve


def plain_table(table: Table) -> str:
    """Fixed-width columns for a terminal (run ids shortened to 8 characters)."""
    cells = [table.columns] + [[text(c) for c in row[:-1]] + [text(row[-1])[:8]] for row in table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = []
    for row in cells:
        padded = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(padded))
    return "\n".join([table.title, *lines])


def write_report(runs: Sequence[Any], folder: Path) -> tuple[Table, list[Path]]:
    """The comparison as Markdown and CSV and the metric-vs-SNR figure of every job and the noisy input."""
    from rcnn_se.reporting.figures import curves_figure

    jobs = job_runs(runs)
    table = comparison_table(jobs)
    folder.mkdir(parents=True, exist_ok=True)
    markdown = folder / "comparison.md"
    markdown.write_text(f"# {table.title}\n\n{markdown_table(table)}\n")
    paths = [markdown, write_csv([table], folder / "comparison.csv")]
    labels = short_labels([configuration(r) for r in jobs])
    curves = {label: snr_curves(run.data.metrics) for label, run in zip(labels, jobs, strict=True)}
    noisy = noisy_metrics(jobs)
    if noisy is not None:
        curves[NOISY] = snr_curves(noisy)
    metrics = [m for m in FIGURE_METRICS if any(m in v for c in curves.values() for v in c.values())]
    if metrics:
        paths.append(curves_figure(curves, metrics, folder / "metrics_vs_snr.png", dashed={NOISY}))
    return table, paths


def report_sweep(client: Any, parent_run_id: str, runs: Sequence[Any], folder: Path) -> str:
    """Write and log the sweep's report with its parent run; the text to print."""
    table, paths = write_report(runs, folder / FOLDER)
    for path in paths:
        client.log_artifact(parent_run_id, str(path), artifact_path=FOLDER)
    return plain_table(table)
