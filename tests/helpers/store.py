"""A test project's MLflow store, read back through MLflow's own client."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient


def client_for(tmp: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")


def project_runs(tmp: Path, filter_string: str = "") -> list:
    """Every run of the project's experiment (jobs, sweep parents, evaluations), newest first."""
    client = client_for(tmp)
    experiment = client.get_experiment_by_name("rcnn_se")
    return client.search_runs([experiment.experiment_id], filter_string=filter_string, max_results=1000)


def job_runs(tmp: Path) -> list:
    """The training jobs' runs only."""
    return project_runs(tmp, "tags.`rcnn_se.kind` = 'job'")


def logged_params(
    model: str = "rcnn", dropout: str = "0.0", seed: str = "42", **extra: str
) -> dict[str, str]:
    base = {
        "choice.model": model,
        "choice.data": "demo",
        "choice.optimizer": "adam",
        "choice.experiment": "None",
        "dropout": dropout,
        "seed": seed,
        "activation": "relu",
        "snr": "all",
        "compress": "none",  # the paper's setting (rcnn_se.reporting.setting.PAPER_SETTING)
        "underestimate_weight": "1.0",
        "gain_floor_db": "None",
        "gain_ceiling_db": "None",
        "choice.scheduler": "none",
        "model.skip": str(model == "rcnn"),
        "model.dropout": dropout,
        "model.channels": "54",
        "optimizer.lr": "0.0005",
        "data.root": "/data/demo_corpus",
        "trainer.max_epochs": "3",
        "paths.root_dir": f"/somewhere/{seed}",
        "callbacks.model_checkpoint.dirpath": f"/out/{model}/{seed}/{dropout}",
    }
    return base | extra
