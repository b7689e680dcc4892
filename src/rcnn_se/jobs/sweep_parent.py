"""The sweep's MLflow parent run, a Hydra callback: created once in the launching process, before any job
starts, with its id left in the sweep folder, so jobs on any launcher (sequential, joblib, SLURM) find it
there and no two jobs race to create it; closed with the sweep's overall status and its comparison table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rcnn_se.tracking import status
from rcnn_se.tracking.mlflow_runs import (
    PARENT_FILE,
    client_for,
    ensure_experiment,
    logger_entries,
    mlflow_settings,
    read_parent_run_id,
    write_run_file,
)


def sweep_parent(config: DictConfig) -> str | None:
    """The sweep's parent run; None under another logger, even in a folder an MLflow sweep used before."""
    return read_parent_run_id(config.hydra.sweep.dir) if mlflow_settings(config.logger) else None


class SweepParentRun(Callback):
    """Hydra callback: one MLflow parent run per multirun, closed with the sweep's overall status."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Open the parent run, or re-open it when an interrupted sweep is relaunched into its old folder;
        nothing under another logger, whose jobs have no MLflow runs to nest (so no comparison either)."""
        settings = mlflow_settings(config.logger)
        if settings is None:
            targets = ", ".join(str(e.get("_target_")) for e in logger_entries(config.logger).values())
            print(
                f"sweep logged by {targets}: no MLflow parent run and no comparison "
                f"table (both MLflow's); each job logs into its own folder under {config.hydra.sweep.dir}",
                flush=True,
            )
            return
        client = client_for(settings.tracking_uri)
        sweep_dir = Path(config.hydra.sweep.dir)
        existing = read_parent_run_id(sweep_dir)
        if existing is not None:
            client.update_run(existing, status="RUNNING")
            status.mark_owner(client, existing)
            status.close_at_exit(client, existing)
            return
        experiment_id = ensure_experiment(client, settings.experiment_name, settings.artifact_location)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        from rcnn_se.tracking.run_metadata import code_commit, source_tags, sweep_run_name

        overrides = list(config.hydra.overrides.task)
        commit = code_commit()
        run = client.create_run(
            experiment_id,
            run_name=sweep_run_name(overrides, sweep_dir),
            tags=source_tags("train.py -m", commit)
            | {
                "rcnn_se.kind": "sweep",
                "rcnn_se.sweep_dir": str(sweep_dir),
                "rcnn_se.overrides": " ".join(overrides),
            },
        )
        write_run_file(sweep_dir / PARENT_FILE, run.info.run_id, settings.tracking_uri)
        status.mark_owner(client, run.info.run_id)
        # Hydra may reject an override after this point (`-m model=rcnn,nosuch`) and never call
        # on_multirun_end: the parent must not stay RUNNING then.
        status.close_at_exit(client, run.info.run_id)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """Mark the sweep FAILED as soon as one job fails: Hydra raises after the batch, so the sweep's end
        hook never runs then, and the parent must not be left RUNNING. The other jobs still go on."""
        from hydra.core.hydra_config import HydraConfig
        from hydra.core.utils import JobStatus
        from hydra.types import RunMode

        if HydraConfig.get().mode != RunMode.MULTIRUN:  # reading hydra.sweep.dir would claim a sweep folder
            return
        run_id = sweep_parent(config)
        if run_id is not None and job_return.status == JobStatus.FAILED:
            client_for(mlflow_settings(config.logger).tracking_uri).set_terminated(run_id, status="FAILED")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        run_id = sweep_parent(config)
        if run_id is None:
            return
        client = client_for(mlflow_settings(config.logger).tracking_uri)
        run = client.get_run(run_id)
        children = client.search_runs(
            [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'", max_results=10000
        )
        failed = [c for c in children if c.info.status != "FINISHED"]
        client.set_tag(run_id, "rcnn_se.n_jobs", str(len(children)))
        client.set_tag(run_id, "rcnn_se.n_failed", str(len(failed)))
        try:  # the comparison of the jobs, printed and logged with this parent run
            from rcnn_se.reporting.sweep_report import report_sweep

            print(report_sweep(client, run_id, children, Path(config.hydra.sweep.dir)), flush=True)
        finally:
            client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")
