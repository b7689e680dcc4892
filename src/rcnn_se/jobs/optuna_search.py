"""An Optuna search over a job's settings (`python train.py -m hparams_search=rcnn_optuna`), run by the
project's Hydra sweeper (hydra_plugins/rcnn_se_optuna).

Each trial is one training job launched through the configured launcher (in this process, in parallel, on
SLURM), so it is a child run of the sweep's MLflow parent run like any sweep job. The study lives in
`hydra.sweeper.storage`: relaunching the same command (same storage and study name) resumes it, running only
the trials still missing (a trial a killed search left RUNNING is marked FAIL, since its job cannot go on).
Each job reports its validation loss per epoch to its trial (rcnn_se.training.optuna_pruning) and stops early
when the pruner says so. At the end the parent run gets the study's settings, its best trial, a table of
trials and Optuna's optimisation-history and parameter-importance figures.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.utils import JobStatus
from omegaconf import DictConfig

from rcnn_se.errors import ConfigError
from rcnn_se.training.optuna_pruning import PRUNED_AT

log = logging.getLogger(__name__)
PRUNING = "rcnn_se.training.optuna_pruning.OptunaPruning"


def distribution(override: Override) -> Any:
    """Optuna's distribution for a sweep override: `choice(a,b)`, `range(1,5)`, `interval(0,1)` (floats: Hydra
    reads an interval's ends as such), `tag(int, interval(1,8))` and `tag(log, interval(1e-4,1e-2))`."""
    import optuna.distributions as dist

    value, key = override.value(), override.get_key_element()
    if isinstance(value, (ChoiceSweep, RangeSweep)):
        return dist.CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if "int" in value.tags:
            return dist.IntDistribution(int(value.start), int(value.end), log=log_scale)
        return dist.FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise ConfigError(
        f"hydra.sweeper.params.{key}={value}: expected choice(...), range(...) or interval(...)"
    )


def search_space(params: Mapping[str, str], arguments: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """(distributions by key, the fixed overrides every trial gets): the config's `params` and any sweep on
    the command line make the space; plain overrides are fixed."""
    parser = OverridesParser.create()
    from_config = parser.parse_overrides([f"{key}={value}" for key, value in params.items()])
    typed = parser.parse_overrides(list(arguments))
    space = [*from_config, *(o for o in typed if o.is_sweep_override())]
    fixed = [o.input_line for o in typed if not o.is_sweep_override()]
    return {o.get_key_element(): distribution(o) for o in space}, fixed


def open_study(settings: Mapping[str, Any]):
    import optuna

    pruner = optuna.pruners.MedianPruner(**dict(settings.get("pruner") or {}))
    sampler = optuna.samplers.TPESampler(seed=settings.get("sampler_seed"))
    study = optuna.create_study(
        study_name=settings["study_name"],
        storage=settings.get("storage"),
        direction=settings.get("direction", "minimize"),
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        log.warning("trial %d of a killed search marked FAIL: its job cannot go on", trial.number)
    return study


def count(study, *states: str) -> int:
    """The study's trials in these states (`"COMPLETE"`, `"PRUNED"`, ...)."""
    import optuna

    wanted = tuple(optuna.trial.TrialState[state] for state in states)
    return len(study.get_trials(deepcopy=False, states=wanted))


def finished(study) -> int:
    return count(study, "COMPLETE", "PRUNED")


def trial_overrides(trial, fixed: Sequence[str], settings: Mapping[str, Any], monitor: str) -> list[str]:
    """A trial's job: the fixed overrides, its sampled values and the callback reporting `monitor` (the
    per-epoch metric whose best is the search's `optimized_metric`) to it."""
    sampled = [f"{key}={value}" for key, value in trial.params.items()]
    storage = settings.get("storage") or ""
    pruner = ",".join(f"{key}:{value}" for key, value in (settings.get("pruner") or {}).items())
    pruning = (
        f"+callbacks.optuna_pruning={{_target_:{PRUNING},storage:'{storage}',"
        f"study_name:'{settings['study_name']}',trial_id:{trial._trial_id},pruner:{{{pruner}}},"
        f"monitor:'{monitor}'}}"
    )
    return [*fixed, *sampled, *([pruning] if storage else [])]


def run_search(settings: Mapping[str, Any], launcher, config: DictConfig, arguments: Sequence[str]) -> Any:
    """Ask, launch, tell, one job for each trial the study lacks to hold `n_trials` finished ones; then log
    the study."""
    import optuna

    distributions, fixed = search_space(settings.get("params") or {}, arguments)
    if not distributions:
        raise ConfigError("hydra.sweeper.params: no setting to search (e.g. dropout: interval(0, 0.3))")
    study = open_study(settings)
    mark_search(settings, config)
    monitor = str(config.get("optimized_metric") or "val/loss").removesuffix("_best")  # what pruning watches
    n_trials, n_jobs = int(settings["n_trials"]), max(1, int(settings.get("n_jobs") or 1))
    missing = max(0, n_trials - finished(study))
    log.info("study %r: %d of %d trials finished", settings["study_name"], n_trials - missing, n_trials)
    # One job per missing trial and no more: a trial that fails stays FAIL (a relaunch tries again), so a
    # setting whose every job fails ends the search instead of launching jobs forever.
    for start in range(0, missing, n_jobs):
        trials = [study.ask(distributions) for _ in range(min(n_jobs, missing - start))]
        batch = [trial_overrides(t, fixed, settings, monitor) for t in trials]
        returns = launcher.launch(batch, initial_job_idx=trials[0].number)
        for trial, ret in zip(trials, returns, strict=True):
            if ret.status != JobStatus.COMPLETED or ret.return_value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            elif PRUNED_AT in study.trials[trial.number].user_attrs:  # as stored (`trial` caches its own)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, float(ret.return_value))
    log_study(study, settings, config)
    if count(study, "COMPLETE"):
        best = study.best_trial
        print(f"study {study.study_name!r}: best trial {best.number}, value {best.value:.4g}, {best.params}")
    return study


def parent_run(config: DictConfig) -> tuple[Any, str] | None:
    """(client, run id) of the sweep's MLflow parent run, when the jobs log to MLflow."""
    from rcnn_se.tracking.mlflow_runs import client_for, mlflow_settings, read_parent_run_id

    mlflow = mlflow_settings(config.logger)
    parent = read_parent_run_id(config.hydra.sweep.dir) if mlflow is not None else None
    return None if parent is None else (client_for(mlflow.tracking_uri), parent)


def mark_search(settings: Mapping[str, Any], config: DictConfig) -> None:
    """The parent run is a search's from the start (`rcnn-se paper-tables` leaves its trials out even if the
    search is killed), with the study's settings as params."""
    from rcnn_se.tracking.mlflow_runs import log_params

    found = parent_run(config)
    if found is None:
        return
    client, parent = found
    client.set_tag(parent, "rcnn_se.kind", "search")
    space = {f"optuna.space.{k}": v for k, v in (settings.get("params") or {}).items()}
    keys = ("study_name", "storage", "direction", "n_trials", "n_jobs", "sampler_seed", "pruner")
    params = {f"optuna.{k}": str(settings.get(k)) for k in keys} | space
    existing = client.get_run(parent).data.params  # a resumed search may have grown n_trials: keep the first
    log_params(client, parent, {k: v for k, v in params.items() if k not in existing})


def log_study(study, settings: Mapping[str, Any], config: DictConfig) -> None:
    """The study's outcome into the sweep's MLflow parent run: the best trial (tags, which a resumed search
    updates), table of trials, figures."""
    found = parent_run(config)
    if found is None:
        return
    client, parent = found
    if count(study, "COMPLETE"):
        best = study.best_trial
        for key, value in {
            "best_trial": best.number,
            **{f"best.{k}": v for k, v in best.params.items()},
        }.items():
            client.set_tag(parent, f"optuna.{key}", str(value))
        client.log_metric(parent, "optuna/best_value", float(best.value))
        client.log_metric(parent, "optuna/n_trials", float(len(study.trials)))
    with tempfile.TemporaryDirectory(prefix="optuna-") as tmp:
        folder = Path(tmp)
        study.trials_dataframe().to_csv(folder / "trials.csv", index=False)
        for name, figure in study_figures(study).items():
            figure.savefig(folder / f"{name}.png", dpi=120, bbox_inches="tight")
        client.log_artifacts(parent, str(folder), artifact_path="optuna")


def study_figures(study) -> dict[str, Any]:
    """Optuna's optimisation history, and the parameter importances once two trials completed."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as plots

    figures = {"optimization_history": plots.plot_optimization_history(study).figure}
    complete = [t for t in study.trials if t.value is not None]
    if len(complete) >= 2:
        try:
            figures["param_importances"] = plots.plot_param_importances(study).figure
        except (RuntimeError, ValueError) as exc:  # all trials alike: no importance to tell
            log.warning("no parameter-importance figure: %s", exc)
    return figures
