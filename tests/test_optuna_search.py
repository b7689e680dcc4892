"""`python train.py -m hparams_search=rcnn_optuna`: a real Optuna study in a real SQLite database, real jobs
through Hydra's launcher, a kill in the middle and a relaunch that resumes the study; the search in MLflow
as one parent with child trials; the tables leave the trials out unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from helpers.browser import check_screenshots, open_view, show, snap
from helpers.jobs import TESTS, tiny_except, train
from helpers.net import mlflow_server
from helpers.store import client_for, project_runs
from rcnn_se.errors import ConfigError
from rcnn_se.jobs.optuna_search import distribution, search_space
from rcnn_se.reporting.tables import load_runs


def test_the_search_space_reads_hydras_sweep_syntax() -> None:
    params = {
        "lr": "tag(log, interval(1e-4, 1e-2))",
        "dropout": "interval(0, 0.3)",
        "act": "choice(relu, elu)",
    }
    space, fixed = search_space(params, ["seed=3", "layers=range(2,5)"])
    assert fixed == ["seed=3"]
    assert space["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert space["dropout"] == optuna.distributions.FloatDistribution(0.0, 0.3)
    assert space["act"] == optuna.distributions.CategoricalDistribution(["relu", "elu"])
    assert space["layers"] == optuna.distributions.CategoricalDistribution([2, 3, 4])
    ints = search_space({"n": "tag(int, interval(1, 8))"}, [])[0]
    assert ints["n"] == optuna.distributions.IntDistribution(1, 8)
    (plain,) = OverridesParser.create().parse_overrides(["dropout=0.1"])
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.params.dropout=0.1: expected choice"):
        distribution(plain)


@pytest.mark.slow
def test_a_killed_search_resumes_its_study_and_shows_as_one_parent_per_launch(
    tmp_path: Path, browser: Any, shots: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    search = [
        "-m",
        "hparams_search=rcnn_optuna",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.n_trials=1",  # one finished trial: the relaunch runs one job after the killed one
        "hydra.sweeper.pruner.n_startup_trials=1",
        "trainer.max_epochs=2",
        "realcheck.enabled=false",
        *tiny_except("trainer.max_epochs"),
    ]
    killer = ["+callbacks.killer._target_=killer.KillAtEpoch", f"+callbacks.killer.marker={tmp_path / 'k'}"]
    killed = train(tmp_path, *search, *killer, check=False, pythonpath=TESTS)
    assert killed.returncode != 0  # the first trial's job killed itself, and the search with it
    study = optuna.load_study(study_name="rcnn_optuna", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.RUNNING]

    train(tmp_path, *search, *killer, pythonpath=TESTS)  # the same command: the study goes on
    study = optuna.load_study(study_name="rcnn_optuna", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "COMPLETE"]
    assert all(len(t.intermediate_values) >= 1 for t in study.trials[1:])  # each job reported its curve
    trial_params = {t.number: t.params for t in study.trials[1:]}

    parents = project_runs(tmp_path, "tags.`rcnn_se.kind` = 'search'")
    assert len(parents) == 2  # one per launch
    resumed = next(p for p in parents if "optuna.best_trial" in p.data.tags)
    assert (
        resumed.data.params["optuna.study_name"] == "rcnn_optuna"
        and "optuna.space.dropout" in resumed.data.params
    )
    assert int(resumed.data.tags["optuna.best_trial"]) in trial_params
    client = client_for(tmp_path)
    files = {a.path for a in client.list_artifacts(resumed.info.run_id, "optuna")}
    assert {"optuna/trials.csv", "optuna/optimization_history.png"} <= files
    children = project_runs(tmp_path, f"tags.`mlflow.parentRunId` = '{resumed.info.run_id}'")
    assert len(children) == 1 and {c.info.status for c in children} == {"FINISHED"}
    # trials compare on validation PESQ-WB, whatever loss weight each drew: its best is the trial's value
    child = children[0]
    assert child.data.params["optimized_metric"] == "val/pesq_wb_best"
    assert child.data.metrics["val/pesq_wb_best"] == pytest.approx(study.trials[1].value)
    assert child.data.params["callbacks.model_checkpoint.monitor"] == "val/pesq_wb"
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    dropouts = sorted(float(c.data.params["dropout"]) for c in children)
    assert dropouts == pytest.approx(sorted(p["dropout"] for p in trial_params.values()))

    store = tmp_path / "mlruns"
    with mlflow_server(store / "mlflow.db", store / "artifacts") as url:
        look_at_the_search(url, browser, shots, resumed, children[0])

    uri = f"sqlite:///{store / 'mlflow.db'}"
    assert load_runs(uri, "rcnn_se") == []  # trials are not configurations to tabulate
    assert len(load_runs(uri, "rcnn_se", search_trials=True)) == 1


def look_at_the_search(url: str, browser: Any, shots: Path, parent: Any, trial: Any) -> None:
    """The search in the MLflow UI as a user finds it: the parent run among the runs with its trial under
    it, the parent's page, and its optimisation-history figure (screenshots in test-artifacts/ui)."""
    experiment = f"{url}/#/experiments/{parent.info.experiment_id}"
    page = browser.new_page(viewport={"width": 1800, "height": 900})
    open_view(page, f"{experiment}/runs", "matching runs")
    page.get_by_role("button", name="Close").last.click()  # the assistant panel
    page.get_by_text(parent.info.run_name[:30]).first.wait_for(timeout=30_000)
    page.locator("button[data-component-id*=runnamecellrenderer]").first.click()  # expand the newest parent
    page.get_by_text(trial.info.run_name[:30]).first.wait_for(timeout=30_000)  # its trial beneath it
    snap(page, shots, "search_trials")
    run = f"{experiment}/runs/{parent.info.run_id}"
    show(page, run, "optuna.study_name", shots, "search_parent_run")
    figure = "artifacts/optuna/optimization_history.png"
    show(page, f"{run}/{figure}", "trials.csv", shots, "search_history", settle_ms=2000)
    page.close()
    check_screenshots(shots, ("search_trials", "search_parent_run", "search_history"))
