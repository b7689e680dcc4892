"""`train.py`'s and `eval.py`'s jobs called in the test's own process, the lightning-hydra-template way: the
config composed as Hydra's `@hydra.main` composes it, then the job function called on it.

A subprocess pays 10-20 s for importing torch, Lightning and MLflow before its job starts; in-process the
test pays that once per pytest worker. It is the right call wherever a test checks what a job computes,
logs or prints, and the wrong one for the command line's own contract (exit statuses, signals, one-line
errors, multiruns and launchers), which tests/helpers/jobs.py keeps as subprocesses.

A job changes its process: environment variables (`PL_GLOBAL_SEED`, MLflow's tracking URI), MLflow's
global tracking and registry URIs, torch's thread count, logging levels and handlers, warning filters,
signal handlers, Hydra's global state, the current folder, the job folder claimed per parent folder and
the folder locks it holds until its process exits. `process_kept()` puts every one of them back, so the
next test meets the process as the previous one found it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from helpers.configs import CONF
from rcnn_se.config import register_resolvers

# What Hydra's default job logging writes to the console and to <job folder>/<task>.log.
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


@dataclass
class Job:
    """One in-process job: its folder, what it returned, and what it logged and printed."""

    out_dir: Path
    value: float | None
    output: str


def _mlflow_uris() -> tuple[str | None, str | None]:
    """MLflow's process-wide tracking and registry URIs as set (None when unset), not as defaulted:
    `mlflow.get_tracking_uri()` would answer a default that `set_tracking_uri` would then pin."""
    import mlflow.tracking._model_registry.utils as registry
    import mlflow.tracking._tracking_service.utils as tracking

    return tracking._tracking_uri, registry._registry_uri


def _set_mlflow_uris(uris: tuple[str | None, str | None]) -> None:
    import mlflow
    import mlflow.tracking._model_registry.utils as registry
    import mlflow.tracking._tracking_service.utils as tracking

    while mlflow.active_run() is not None:  # a run a failed job left open
        mlflow.end_run()
    tracking._tracking_uri, registry._registry_uri = uris  # os.environ, restored beside, holds the rest


@contextlib.contextmanager
def process_kept() -> Iterator[None]:
    """Run the block, then put back everything a job may have changed in this process (module docstring)."""
    from rcnn_se.jobs import job_dir, resume

    environ, cwd, threads = dict(os.environ), os.getcwd(), torch.get_num_threads()
    uris, hydra_cfg = _mlflow_uris(), HydraConfig.instance().cfg
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    claimed, held = dict(job_dir._claimed), len(resume._held)
    path = list(sys.path)
    try:
        with warnings.catch_warnings():
            yield
    finally:
        for handle in resume._held[held:]:  # the folder locks a job holds "until its process exits"
            handle.close()
        del resume._held[held:]
        job_dir._claimed.clear()
        job_dir._claimed.update(claimed)
        _set_mlflow_uris(uris)
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        torch.set_num_threads(threads)
        for handler in root.handlers[:]:
            if handler not in root_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = hydra_cfg
        sys.path[:] = path


def job_config(config_name: str, overrides: list[str]) -> DictConfig:
    """The config `python <config_name>.py OVERRIDES` hands its job, as `@hydra.main` prepares it: Hydra's
    own node set aside in `HydraConfig` with the job folder claimed (`hydra.run.dir`, or a new
    `<time>_<hex>` folder) as its output folder, and the task config without it."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name=config_name):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    out_dir = Path(str(OmegaConf.select(cfg, "hydra.run.dir")))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@contextlib.contextmanager
def captured(out_dir: Path, task: str) -> Iterator[io.StringIO]:
    """What the job logs (at INFO, as Hydra's job logging sets it) and prints, also into its log file."""
    text = io.StringIO()
    root = logging.getLogger()
    console, file = logging.StreamHandler(text), logging.FileHandler(out_dir / f"{task}.log")
    for handler in (console, file):
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        yield text


def run_job(
    config_name: str,
    tmp: Path,
    cwd: Path,
    overrides: list[str],
    job: Callable[[DictConfig], float | None],
    pythonpath: Path | None = None,
) -> Job:
    """`job(cfg)` on the composed config, from `cwd`, with `tmp` as the project root (RCNN_SE_ROOT) and
    the session's shared data folder, as `helpers.jobs` starts the same job as a subprocess. An exception
    the job raises reaches the caller, after the process is put back; its output is on the exception
    (`exc.job_output`)."""
    data = f"paths.data_dir={os.environ['RCNN_SE_TEST_DATA']}"
    with process_kept():
        os.environ["RCNN_SE_ROOT"] = str(tmp)
        if pythonpath is not None:  # killer.py's callbacks, trusted as a user's module
            sys.path.insert(0, str(pythonpath))
            os.environ["RCNN_SE_TRUSTED_TARGETS"] = "killer."
        os.chdir(cwd)
        cfg = job_config(config_name, [*overrides, data])
        out_dir = Path(HydraConfig.get().runtime.output_dir)
        with captured(out_dir, config_name) as text:
            try:
                value = job(cfg)
            except BaseException as exc:
                exc.job_output = text.getvalue()  # type: ignore[attr-defined]
                raise
        return Job(out_dir, value, text.getvalue())


def train_in_process(tmp: Path, *args: str, pythonpath: Path | None = None) -> Job:
    """`python train.py ARGS` run from `tmp` as its project root (helpers.jobs.train), in this process."""
    from rcnn_se.jobs.train_job import train_and_test

    return run_job("train", tmp, tmp, list(args), train_and_test, pythonpath)


def evaluate_in_process(tmp: Path, cwd: Path, *args: str) -> Job:
    """`python eval.py ARGS` run from `cwd` with `tmp` as its project root (helpers.jobs.evaluate)."""
    from rcnn_se.jobs.eval_job import check_request, evaluate_checkpoint

    def job(cfg: DictConfig) -> float | None:
        check_request(cfg)  # eval.py's own rules, which eval.py checks before it calls the job
        return evaluate_checkpoint(cfg)

    args = (*args, "evaluate.workers=0")
    with process_kept():
        os.environ.pop("RCNN_SE_TRACKING_URI", None)  # the project's own store, as helpers.jobs.evaluate
        return run_job("eval", tmp, cwd, list(args), job)
