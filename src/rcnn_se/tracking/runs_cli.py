"""`rcnn-se runs clean`: the FAILED runs and the stale RUNNING ones (their process is gone) of the project's
experiment, listed, and with `--delete` moved to MLflow's trash (`mlflow gc` empties it).

A sweep's FAILED parent run that still has FINISHED jobs under it is listed but kept: `paper-tables --sweep`
finds those jobs through it.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from rcnn_se.tracking.status import needs_cleaning
from rcnn_se.tracking.store import StoreError, default_tracking_uri, open_store, where


def finished_children(client, run) -> int:
    query = f"tags.`mlflow.parentRunId` = '{run.info.run_id}' AND attributes.status = 'FINISHED'"
    return len(client.search_runs([run.info.experiment_id], query, max_results=10000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rcnn-se runs", description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", required=True)
    clean = actions.add_parser("clean", help="list FAILED and stale RUNNING runs; --delete removes them")
    clean.add_argument("--delete", action="store_true", help="move the listed runs to MLflow's trash")
    clean.add_argument("--tracking-uri", help="default: $RCNN_SE_TRACKING_URI, else the project's store")
    clean.add_argument("--experiment", default="rcnn_se", help="logger.mlflow.experiment_name")
    clean.add_argument(
        "--stale-hours",
        type=float,
        default=24.0,
        help="a RUNNING run whose process cannot be checked (another host) counts as stale after this long",
    )
    args = parser.parse_args(argv)
    uri = args.tracking_uri or default_tracking_uri()
    try:
        client = open_store(uri)
    except StoreError as exc:
        parser.exit(1, f"rcnn-se runs: {exc}\n")
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        parser.exit(1, f"rcnn-se runs: no experiment {args.experiment!r} in the store at {where(uri)}\n")
    found = needs_cleaning(client, [experiment.experiment_id], args.stale_hours)
    removable = []
    for run, reason in found:
        kept = finished_children(client, run) if run.data.tags.get("rcnn_se.kind") == "sweep" else 0
        started = datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
        note = f"  (kept: {kept} finished jobs under it)" if kept else ""
        name = run.info.run_name or ""
        print(f"{run.info.run_id}  {run.info.status:<8} {started}  {name}  [{reason}]{note}")
        if not kept:
            removable.append(run.info.run_id)
    if not found:
        print(f"nothing to clean in experiment {args.experiment!r} of {uri}")
    elif args.delete:
        for run_id in removable:
            client.delete_run(run_id)
        print(f"deleted {len(removable)} runs (in MLflow's trash until `mlflow gc`)")
    else:
        print(f"{len(removable)} of these can be removed: rcnn-se runs clean --delete")
    return 0
