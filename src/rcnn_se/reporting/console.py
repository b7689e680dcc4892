"""What a job prints when it ends: its scores overall and per test SNR beside the noisy input's (the demo test
set, then the real-speech check's `realcheck` and `realnoise` sets), so a user sees the outcome (and whether
the model improved on doing nothing) without opening the MLflow UI; then where the logs went: the MLflow run
and the command that opens it in the UI, or another logger's folder."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from rcnn_se.reporting.tables import METRICS

HEADLINE = ("pesq_wb", "stoi", "csig", "cbak", "covl", "si_sdr", "nr", "sd")  # shown as the tables name them
UI_PORT = 5000


def snr_groups(summary: dict[str, float], prefix: str) -> list[tuple[str, str]]:
    """(row label, key prefix) for the whole set, then each test SNR in increasing order."""
    snrs = {key.split("/")[1] for key in summary if key.startswith(f"{prefix}/snr_")}
    rows = [("all", f"{prefix}/")]
    return rows + [(f"{snr[4:]} dB", f"{prefix}/{snr}/") for snr in sorted(snrs, key=lambda s: float(s[4:]))]


def score_table(
    summary: dict[str, float],
    prefix: str,
    noisy: dict[str, float] | None = None,
    model: str = "model",
) -> str:
    """One scored set (`prefix` = test, realcheck or realnoise) as a fixed-width table: a row for the whole
    set, then one per test SNR, a column for each headline metric the summary holds. With `noisy` (the noisy
    input's summary under the same keys), each row of the model's is followed by the noisy input's."""
    columns = [(key, METRICS[key]) for key in HEADLINE if f"{prefix}/{key}" in summary]
    n = summary.get(f"{prefix}/n_utterances", math.nan)
    width = max(len(model), len("noisy")) if noisy is not None else 0
    who = f" {'':<{width}}" if width else ""
    lines = [f"{prefix}: {n:.0f} utterances", f"{'SNR':>8}{who} " + " ".join(f"{lb:>8}" for _, lb in columns)]
    sources = [(model, summary)] + ([("noisy", noisy)] if noisy is not None else [])
    for label, key in snr_groups(summary, prefix):
        for i, (name, scores) in enumerate(sources):
            first = label if i == 0 else ""
            tag = f" {name:<{width}}" if width else ""
            values = " ".join(f"{scores.get(key + k, math.nan):8.3f}" for k, _ in columns)
            lines.append(f"{first:>8}{tag} {values}")
    return "\n".join(lines)


def mlflow_command() -> str:
    """The `mlflow` script of the running interpreter's environment (a venv's bin/), else plain `mlflow`."""
    script = Path(sys.executable).parent / "mlflow"
    return str(script) if script.is_file() else "mlflow"


# MLflow 3.17's UI opens every experiment in its GenAI view unless the address asks for the training view:
# its GenAI / Model training switch (kept per browser) overrides the experiment's `mlflow.experimentKind`.
TRAINING_VIEW = "?workflowType=machine_learning"


def ui_hint(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """How to see the run in the MLflow UI: its address on a server, or the command that serves a local
    store and the address to open then."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}{TRAINING_VIEW}"
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri.rstrip('/')}/{page}"
    command = f"{mlflow_command()} ui --backend-store-uri {tracking_uri} --port {UI_PORT}"
    return f"{command}\n  then open http://127.0.0.1:{UI_PORT}/{page}"


def mlflow_where(run_id: str, tracking_uri: str, experiment_id: str) -> str:
    """Where an MLflow run lives and how to open it."""
    hint = ui_hint(tracking_uri, experiment_id, run_id)
    return f"MLflow run {run_id} in {tracking_uri}; to browse it:\n  {hint}"


def job_report(
    summaries: dict[str, dict[str, float]],
    where: str,
    noisy: dict[str, dict[str, float]] | None = None,
    model: str = "model",
) -> str:
    """The closing lines of a job: each scored set's table (beside the noisy input's scores when given),
    then `where` its logs went (its MLflow run: `mlflow_where`)."""
    noisy = noisy or {}
    tables = [score_table(s, prefix, noisy.get(prefix), model) for prefix, s in summaries.items()]
    return "\n\n".join([*tables, where])
