"""`rcnn-se compare`: two groups of finished job runs, chosen by the params they logged, compared on one
scored set with paired statistics, from the store alone.

It answers "is training set / recipe A better than B on real speech?", the question behind
experiments/README.md's "Real talkers and real noise": `rcnn-se compare --a experiment=real_voices --b
experiment=null model=rcnn --set realnoise`. A side is every finished job run whose params match all of its
KEY=VALUE pairs (`choice.` is implied for a config group's name: `experiment=real_voices`, `model=cnn`); one
run per seed, the newest. A side's runs must be one configuration: when they differ in a setting the side
does not name, compare refuses and names it instead of mixing them (the runs used are listed).
For each metric it gives the noisy input, both sides, each side's gain over the noisy input
and the difference between the sides, as a mean with its 95 % bootstrap interval over utterances (each
utterance's score averaged over a side's seeds) and the per-seed mean differences (seeds matched by number);
then STOI's gain by test SNR.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rcnn_se.metrics.names import METRICS
from rcnn_se.reporting.paired_stats import Paired, Rows, paired, signed
from rcnn_se.reporting.run_groups import HIDDEN, ConfigGroup, RunRecord, canonical, group_by_config
from rcnn_se.reporting.tables_render import Table, markdown_table

SETS = ("test", "realcheck", "realnoise")  # what every job scores and logs per utterance
COMPARED = ("pesq_wb", "stoi", "csig", "cbak", "covl", "si_sdr")
GROUPS = ("model", "data", "optimizer", "scheduler", "experiment", "logger", "trainer")  # `choice.` implied


class CompareError(Exception):
    """A request that cannot be answered (bad KEY=VALUE, no runs on a side): one line, exit 1."""


def parse_side(pairs: Sequence[str]) -> dict[str, str]:
    """`["experiment=real_voices", "seed=2"]` -> {"choice.experiment": "real_voices", "seed": "2"}."""
    wanted = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CompareError(f"{pair!r}: expected KEY=VALUE, a param the runs logged")
        wanted[f"choice.{key}" if key in GROUPS else key] = value
    return wanted


def side_runs(runs: Sequence[RunRecord], wanted: Mapping[str, str], label: str = "") -> dict[str, RunRecord]:
    """seed -> the newest run whose params match every wanted value (`null` matches a param never set).
    The matching runs must be one configuration (rcnn_se.reporting.run_groups: they may differ only in where
    and how they ran): runs that differ in a setting are refused, naming it, never mixed into one side."""
    matching = [
        run
        for run in runs
        if all(canonical(run.params.get(k, "None")) == canonical(as_logged(v)) for k, v in wanted.items())
    ]
    groups = group_by_config(matching)
    if len(groups) > 1:
        raise CompareError(f"{label or 'a side'} matches runs that differ in {differences(groups)}: name it")
    return {canonical(run.params.get("seed", run.run_id)): run for group in groups for run in group.runs}


def differences(groups: Sequence[ConfigGroup], shown: int = 3) -> str:
    """The settings the groups' runs disagree on, with their values: `data.remix (False, True)`."""
    keys = sorted({k for g in groups for k in g.params if not k.startswith(HIDDEN)})
    parts = []
    for key in keys:
        values = sorted({canonical(g.params.get(key, "None")) for g in groups})
        if len(values) > 1:
            parts.append(f"{key.removeprefix('choice.')} ({', '.join(values)})")
    more = f" and {len(parts) - shown} more" if len(parts) > shown else ""
    return ", ".join(parts[:shown]) + more


def as_logged(value: str) -> str:
    """A value as typed on a Hydra command line, as a job logs it: `null` -> None, `true` -> True."""
    return {"null": "None", "none": "None", "true": "True", "false": "False"}.get(value.lower(), value)


def noisy_side(rows: Mapping[str, Rows]) -> dict[str, Rows]:
    """The noisy input's scores, as rows of a side of their own (`noisy.<metric>` columns)."""
    return {
        seed: [{"uid": r["uid"], **{k[6:]: v for k, v in r.items() if k.startswith("noisy.")}} for r in found]
        for seed, found in rows.items()
    }


def cell(result: Paired | None) -> str:
    if result is None:
        return "–"
    seeds = " / ".join(signed(m) for m in result.seed_means)
    text = f"{signed(result.mean)} [{signed(result.low)}, {signed(result.high)}]"
    return text + (f" (per seed {seeds})" if len(result.seed_means) > 1 else "")


def mean_of(rows: Mapping[str, Rows], metric: str) -> float | None:
    values = [float(r[metric]) for found in rows.values() for r in found if metric in r]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def comparison(a: Mapping[str, Rows], b: Mapping[str, Rows], labels: tuple[str, str], where: str) -> Table:
    """The metrics table: noisy, A, B, A − noisy, B − noisy, A − B (a pure function of the rows)."""
    noisy_a, noisy_b = noisy_side(a), noisy_side(b)
    rows = []
    for metric in COMPARED:
        means = [mean_of(noisy_b, metric), mean_of(a, metric), mean_of(b, metric)]
        if means[1] is None or means[2] is None:
            continue
        gains = [cell(paired(a, noisy_a, metric)), cell(paired(b, noisy_b, metric))]
        rows.append([METRICS[metric], *means, *gains, cell(paired(a, b, metric))])
    name_a, name_b = labels
    columns = ["Metric", "noisy", name_a, name_b, f"{name_a} − noisy", f"{name_b} − noisy"]
    columns.append(f"{name_a} − {name_b}")
    notes = [
        f"{where}. Means over utterances and seeds; differences per utterance (each averaged over its side's "
        "seeds) with a 95 % bootstrap interval over utterances, and the per-seed mean differences."
    ]
    return Table("compare", "Paired comparison", columns, rows, notes)


def stoi_by_snr(a: Mapping[str, Rows], b: Mapping[str, Rows], labels: tuple[str, str]) -> Table:
    """STOI's gain over the noisy input at each test SNR, for both sides."""
    snrs = sorted({float(r["snr"]) for found in b.values() for r in found})
    rows = []
    for snr in snrs:

        def at(side: Mapping[str, Rows], snr: float = snr) -> dict[str, Rows]:
            return {s: [r for r in found if float(r["snr"]) == snr] for s, found in side.items()}

        rows.append([f"{snr:g} dB", *(cell(paired(at(s), noisy_side(at(s)), "stoi")) for s in (a, b))])
    return Table("compare_snr", "STOI gain over the noisy input by test SNR", ["SNR", *labels], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rcnn-se compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", nargs="+", required=True, metavar="KEY=VALUE", help="the first side's params")
    parser.add_argument("--b", nargs="+", required=True, metavar="KEY=VALUE", help="the second side's params")
    parser.add_argument("--set", choices=SETS, default="realnoise", help="scored set (default: realnoise)")
    parser.add_argument("--tracking-uri", help="default: $RCNN_SE_TRACKING_URI, else the project's store")
    parser.add_argument("--experiment-name", default="rcnn_se")
    args = parser.parse_args(argv)
    from rcnn_se.reporting.tables import TablesError, load_runs, utterance_rows
    from rcnn_se.tracking.store import default_tracking_uri

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = args.tracking_uri or default_tracking_uri()
    labels = (" ".join(args.a), " ".join(args.b))
    try:
        runs = load_runs(uri, args.experiment_name)
        wanted = [parse_side(pairs) for pairs in (args.a, args.b)]  # both read before either is matched
        sides = [side_runs(runs, w, label) for w, label in zip(wanted, labels, strict=True)]
        for label, side in zip(labels, sides, strict=True):
            if not side:
                where = f"{args.experiment_name!r} at {uri}"
                raise CompareError(f"no finished job run matches {label} in {where}")
        with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
            rows_of = utterance_rows(uri, Path(tmp), f"evaluation/{args.set}_utterances.csv")
            scored = [{s: rows for s, r in side.items() if (rows := rows_of(r.run_id))} for side in sides]
    except (CompareError, TablesError) as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 1
    for label, side, rows in zip(labels, sides, scored, strict=True):
        seeds = ", ".join(r.params.get("seed", "?") for r in side.values())
        print(f"{label}: seeds {seeds}; runs {', '.join(r.run_id for r in side.values())}")
        if not rows:
            print(f"compare: no run of {label} logged {args.set} scores", file=sys.stderr)
            return 1
    where = f"set {args.set}, experiment {args.experiment_name!r} at {uri}"
    for table in (comparison(*scored, labels, where), stoi_by_snr(*scored, labels)):
        print(f"\n{table.title}\n\n{markdown_table(table)}")
    return 0
