"""`rcnn-se paper-tables`: the paper's Tables 1 and 2 and the extended comparisons, rebuilt from MLflow.

The MLflow store is the only source, never a hand-kept file, so every number traces to a run listed under
"Runs used". Table building is a pure function of `RunRecord`s (testable without MLflow), on top of the
grouping and statistics in `run_groups`; `load_runs` is the only code that reads the store. Rendering lives in
`tables_render`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rcnn_se.metrics.names import METRICS
from rcnn_se.reporting.claims import RowsOf, claims_tables
from rcnn_se.reporting.run_groups import (
    ConfigGroup,
    RunRecord,
    canonical,
    config_key,
    group_by_config,
    labelled,
    rank,
)
from rcnn_se.reporting.setting import PROVENANCE_COLUMNS, SETTING_KEYS, provenance
from rcnn_se.reporting.tables_paper import SETTING, MissingRuns, at_reference, table1, table2
from rcnn_se.reporting.tables_render import Table, markdown, runs_used, write_all
from rcnn_se.tracking.store import DamagedStore, StoreError, default_tracking_uri, open_store, project_root

UTTERANCES = "evaluation/test_utterances.csv"  # per-utterance scores every job logs (score_test_set)
MODEL_ORDER = ("rcnn", "cnn", "noisy", "spectral_subtraction", "wiener")
ABLATIONS = (  # name, param, display order, experiment, what the paper says
    ("activation", "activation", ("relu", "elu", "selu", "prelu"), "activations",
     "Paper (IV.D): ReLU gave the best results; it prints no figures."),
    ("optimizer", "choice.optimizer", ("adam", "sgd", "adagrad"), "optimizers",
     "Paper (IV.D): Adam won over SGD and Adagrad at learning rate 0.0005; it prints no figures."),
    ("training SNR", "snr", ("all", "0", "5", "10", "15"), "snr_conditions",
     "The paper trains on all four SNRs together; training on one condition is our ablation."),
)  # fmt: skip


TALKERS = "Real recorded speech (CMU ARCTIC awb and slt, AMFM_decompy and praat-parselmouth samples)"
REAL_SETS = {  # the real-speech check's two sets: metric prefix -> (table title, note)
    "realcheck": ("Extended: real-speech check", f"{TALKERS} mixed with the demo test noises at the test "
                  "SNRs: how the demo results hold on real speech (synthetic noise)."),
    "realnoise": ("Extended: real speech in real noise", f"{TALKERS} mixed with recorded noises no training "
                  "run hears (Debian's tuxpaint-stamps-default sound effects: household machines, vehicles, "
                  "street, weather) at the test SNRs, two noises per clip and SNR: what claims about real "
                  "speech rest on."),
}  # fmt: skip


class TablesError(Exception):
    """Something the user must fix (no store, no experiment, missing runs): printed, not a traceback."""


def group_runs(runs: Sequence[RunRecord]) -> list[ConfigGroup]:
    """Configurations in the tables' order: by model, the paper's setting first, then by params."""
    return sorted(
        group_by_config(runs),
        key=lambda g: (rank(MODEL_ORDER, g.model), not at_reference(g), config_key(g.params)),
    )


HEAD = [*PROVENANCE_COLUMNS, "Seeds"]  # after the label, every row says where it came from


def metric_rows(
    labels: Sequence[str], groups: Sequence[ConfigGroup], keys: Sequence[str], scored: str = "test"
) -> list[list]:
    return [
        [lb, *provenance(g, scored), len(g.runs), *(g.stat(k) for k in keys)]
        for lb, g in zip(labels, groups, strict=True)
    ]


def found_metrics(groups: Sequence[ConfigGroup], prefix: str = "test/") -> list[str]:
    """What follows `prefix` in the runs' metric names up to the next '/', e.g. every overall test metric
    (ordered as METRICS, new ones after) or every SNR (numerically) and noise label (alphabetically)."""
    keys = {k for g in groups for r in g.runs for k in r.metrics if k.startswith(prefix)}
    names = {k[len(prefix) :].split("/")[0] for k in keys}
    if prefix in ("test/", *(f"{s}/" for s in REAL_SETS)):
        names -= {
            n
            for n in names
            if n == "n_utterances" or n.endswith("_nan") or n.startswith(("snr_", "noise_", "delta."))
        }
        return sorted(names, key=lambda m: rank(list(METRICS), m))
    return sorted(names, key=lambda c: (float(c), c) if prefix.endswith("snr_") else (0.0, c))


def extended(groups: Sequence[ConfigGroup]) -> list[Table]:
    labels = labelled([g.model for g in groups], groups, {"choice.model", "model.skip", *SETTING_KEYS})
    metrics = found_metrics(groups)
    names = [METRICS.get(m, m) for m in metrics]
    overall = metric_rows(labels, groups, [f"test/{m}" for m in metrics])
    tables = [
        Table("extended_overall", "Extended: every model, whole test set", ["Model", *HEAD, *names], overall)
    ]
    for scored, (title, note) in REAL_SETS.items():
        if real := found_metrics(groups, f"{scored}/"):
            rows = metric_rows(labels, groups, [f"{scored}/{m}" for m in real], scored=scored)
            header = ["Model", *HEAD, *(METRICS.get(m, m) for m in real)]
            tables.append(Table(f"extended_{scored}", title, header, rows, [note]))
    for kind, title, unit in (
        ("snr", "Extended: per test SNR", " dB"),
        ("noise", "Extended: per noise type", ""),
    ):
        columns = found_metrics(groups, f"test/{kind}_")
        header = ["Model", *HEAD, *(c + unit for c in columns)]
        for metric, name in zip(metrics, names, strict=True):
            rows = metric_rows(labels, groups, [f"test/{kind}_{c}/{metric}" for c in columns])
            if any(cell is not None for row in rows for cell in row[1 + len(HEAD) :]):
                tables.append(Table(f"extended_by_{kind}", title, header, rows, section=name))
    return tables


def ablations(groups: Sequence[ConfigGroup]) -> list[Table]:
    """One table per knob of the paper's setting that runs of the RCNN varied (the others held fixed)."""
    tables = []
    for name, param, order, experiment, claim in ABLATIONS:
        chosen = [g for g in groups if g.model == "rcnn" and at_reference(g, free=param)]
        if len({canonical(g.params.get(param)) for g in chosen}) < 2:
            continue
        chosen.sort(key=lambda g: rank(order, g.params.get(param)))
        labels = labelled([f"{name} {g.params.get(param)}" for g in chosen], chosen, {param, *SETTING_KEYS})
        metrics = found_metrics(chosen)
        rows = metric_rows(labels, chosen, [f"test/{m}" for m in metrics])
        header = ["RCNN", *HEAD, *(METRICS.get(m, m) for m in metrics)]
        notes = [claim, f"Runs: python train.py experiment={experiment} -m; other knobs at {SETTING}."]
        tables.append(Table(f"ablation_{param.split('.')[-1]}", f"Ablation: {name}", header, rows, notes))
    return tables


def build(
    runs: Sequence[RunRecord], where: str, allow_missing: bool = False, rows_of: RowsOf | None = None
) -> tuple[str, list[Table]]:
    """The Markdown document and every table; `where` names the store and filters for messages. With
    `rows_of` (run id -> per-utterance rows) the paper's comparisons get paired statistics and verdicts."""
    if not runs:
        raise TablesError(f"no FINISHED job runs {where}; run: python train.py experiment=paper_table1 -m")
    groups = group_runs(runs)
    tables, missing = [], []
    for builder in (table1, table2):
        try:
            tables.append(builder(groups))
        except MissingRuns as exc:
            if not allow_missing:
                raise TablesError(exc.explain(where)) from None
            missing.append(exc.explain(where))
    tables += claims_tables(groups, rows_of) if rows_of is not None else []
    tables += extended(groups) + ablations(groups)
    old = [(o, f"no: same config and seed as newer {new.run_id}") for g in groups for o, new in g.superseded]
    tables.append(runs_used([(r, "yes") for g in groups for r in g.runs] + old))
    return markdown(where, (len(runs), len(groups), len(old)), tables, missing), tables


def load_runs(
    uri: str,
    experiment_name: str,
    sweep: str | None = None,
    data: str | None = None,
    search_trials: bool = False,
) -> list[RunRecord]:
    """The FINISHED job runs of the experiment (of one sweep / corpus if given); never creates a store. The
    trials of a hyperparameter search (children of a `rcnn_se.kind=search` parent) only when asked, or when
    `sweep` names that search: each trial is a setting tried once, not a configuration to report."""
    from mlflow.exceptions import MlflowException

    try:
        client = open_store(uri)
    except DamagedStore as exc:
        raise TablesError(str(exc)) from None
    except StoreError as exc:
        raise TablesError(f"{exc}; train first (python train.py)") from None
    try:
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None or experiment.lifecycle_stage != "active":
            names = ", ".join(repr(e.name) for e in client.search_experiments()) or "none"
            raise TablesError(f"no experiment {experiment_name!r} at {uri} (experiments: {names})")
        query = "tags.`rcnn_se.kind` = 'job' AND attributes.status = 'FINISHED'"
        query += f" AND params.`choice.data` = '{data}'" if data else ""
        if sweep:
            if client.get_run(sweep).data.tags.get("rcnn_se.kind") not in ("sweep", "search"):
                raise TablesError(f"run {sweep} is not a sweep's parent run (no tag rcnn_se.kind=sweep)")
            query += f" AND tags.`mlflow.parentRunId` = '{sweep}'"
        found = client.search_runs([experiment.experiment_id], query, max_results=50_000)  # the store's cap
        if not (search_trials or sweep):
            searches = client.search_runs([experiment.experiment_id], "tags.`rcnn_se.kind` = 'search'")
            left_out = {s.info.run_id for s in searches}
            found = [r for r in found if r.data.tags.get("mlflow.parentRunId") not in left_out]
    except MlflowException as exc:
        raise TablesError(f"cannot read {uri}: {exc.message}") from None
    return [
        RunRecord(r.info.run_id, r.info.run_name or "", r.info.start_time or 0, r.data.params, r.data.metrics,
                  r.data.tags)
        for r in found
    ]  # fmt: skip


def utterance_rows(uri: str, folder: Path, artifact: str = UTTERANCES) -> RowsOf:
    """run id -> the rows of its per-utterance `artifact` (the test set's by default; None if it has none),
    read through MLflow into `folder` once per run."""
    from mlflow.exceptions import MlflowException

    from rcnn_se.evaluation.scoring import read_rows

    client, seen = open_store(uri), {}

    def rows_of(run_id: str):
        if run_id not in seen:
            try:
                path = client.download_artifacts(run_id, artifact, str(folder / run_id))
                seen[run_id] = read_rows(Path(path))
            except (MlflowException, OSError):  # a run from before per-utterance logging
                seen[run_id] = None
        return seen[run_id]

    return rows_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rcnn-se paper-tables", description="Rebuild the paper's tables from the MLflow store."
    )
    parser.add_argument("--tracking-uri", help="default: $RCNN_SE_TRACKING_URI, else the project's store")
    parser.add_argument("--experiment-name", default="rcnn_se")
    parser.add_argument("--data", choices=("demo", "voicebank"), help="only runs on this corpus")
    parser.add_argument("--sweep", metavar="PARENT_RUN_ID", help="only the job runs of this sweep")
    parser.add_argument(
        "--search-trials", action="store_true", help="also the trials of hyperparameter searches (left out)"
    )
    parser.add_argument("--out", type=Path, help="default: <project folder>/experiments/paper")
    parser.add_argument("--allow-missing", action="store_true", help="build the rest if Table 1/2 lack runs")
    args = parser.parse_args(argv)
    # One progress bar per downloaded artifact buries the paths this command prints: one per run here.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = args.tracking_uri or default_tracking_uri()
    filters = (f" in sweep {args.sweep}" if args.sweep else "") + (
        f" with data={args.data}" if args.data else ""
    )
    where = f"in experiment {args.experiment_name!r} at {uri}{filters}"
    try:
        runs = load_runs(uri, args.experiment_name, args.sweep, args.data, args.search_trials)
        with tempfile.TemporaryDirectory(prefix="paper-tables-") as tmp:
            document, tables = build(runs, where, args.allow_missing, utterance_rows(uri, Path(tmp)))
    except TablesError as exc:
        print(f"paper-tables: {exc}", file=sys.stderr)
        return 1
    out = args.out or project_root() / "experiments" / "paper"
    for path in write_all(out, document, tables):
        print(path)
    from rcnn_se.reporting.paper_figure import figure3

    print(
        figure3(runs, uri, out)
        or "figure3.png: skipped (needs RCNN and CNN runs without dropout, with audio)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
