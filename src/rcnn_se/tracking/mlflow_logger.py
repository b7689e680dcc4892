"""The target of `logger=mlflow`: Lightning's MLflow logger, writing into the run the job opened itself.

The job, not Lightning, creates its run (rcnn_se.jobs.job_logs): so runs carry the project's names, tags,
sweep parent and true final status, and a relaunch resumes the same run.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import MLFlowLogger


def mlflow_logger(
    tracking_uri: str, experiment_name: str, run_id: str | None = None, **job_settings: Any
) -> MLFlowLogger:
    """Lightning's logger on the job's run. `job_settings` are the entry's other keys (artifact_location,
    system_metrics_interval, register_as): the job reads them from the config when it opens the run, and
    Lightning has no use for them."""
    return MLFlowLogger(experiment_name=experiment_name, tracking_uri=tracking_uri, run_id=run_id)
