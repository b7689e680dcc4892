"""A job folder belongs to one job: a relaunch into it must compose the same config, or it is refused.

A folder remembers its MLflow run and holds `last.ckpt`; relaunching into it resumes both. Were another
config accepted (`model=cnn` into an RCNN's folder), the run would keep the RCNN's parameters while its
checkpoint and scores came from a CNN, and every table built from MLflow would file the result wrongly.
So Hydra's own config files are not written by Hydra (`hydra.output_subdir: null`) but here, after the
composed config has been compared with the one the folder holds: a rejected relaunch leaves them untouched.

Only trainer limits may grow (`trainer.max_epochs`, `trainer.max_steps`: train an interrupted job further),
and settings that change speed or display, not results, may differ.
"""

from __future__ import annotations

import fcntl
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rcnn_se.errors import ConfigError, Interrupted
from rcnn_se.tracking.mlflow_runs import chosen_groups, flatten
from rcnn_se.training.checkpoints import load_checkpoint, readable_checkpoint

CONFIG_DIR = ".hydra"
GROWABLE = ("trainer.max_epochs", "trainer.max_steps")
# Schedules planned over the run's length: growing the limits would break (one-cycle steps past its end)
# or silently change them (cosine's T_max), so under these the limits are part of the job.
PLANNED_SCHEDULES = ("OneCycleLR", "CosineAnnealingLR")
# `logger._target_` came with the swappable logger group: folders from before it must still resume (another
# logger differs in its other keys, so a swap is still refused). Named loggers came later (`named_loggers`).
FREE = ("threads", "evaluate.workers", "callbacks.rich_progress_bar", "logger._target_")


_held: list = []  # lock files of the folders this process runs jobs in, released when it exits


class OtherJobError(ConfigError):
    """The folder holds a job with another config, or another process is running its job now."""


def hold_folder(out_dir: Path) -> None:
    """Take the folder's job lock for the rest of this process: two relaunches of one job at once would
    train into the same checkpoints and run."""
    handle = open(out_dir / ".job.lock", "a")  # held open until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OtherJobError(
            f"{out_dir}: another process is running this job now; wait for it to end, or stop it first"
        ) from None
    _held.append(handle)


def _limit(value: Any) -> float:
    """A trainer limit as a number; -1 and null mean no limit."""
    return math.inf if value in (None, -1, "-1", "None") else float(value)


def named_loggers(saved: dict, current: dict) -> dict:
    """A folder's config from before loggers were named (its one logger's `_target_` at the top of `logger`)
    with that logger under the name the current config gives a logger of the same target (`logger.mlflow`),
    so that a job started before the change still resumes."""
    old = saved.get("logger")
    if not (isinstance(old, dict) and "_target_" in old):
        return saved
    loggers = (current.get("logger") or {}).items()
    named = [name for name, entry in loggers if (entry or {}).get("_target_") == old["_target_"]]
    return {**saved, "logger": {named[0] if named else "logger": old}}


def differences(saved: dict, current: dict, growable: tuple[str, ...] = GROWABLE) -> list[str]:
    """`key: old -> new` for every setting that would make the relaunch another job."""
    old, new = flatten(named_loggers(saved, current)), flatten(current)
    changed = []
    for key in sorted(old.keys() | new.keys()):
        if key.startswith(FREE) or old.get(key) == new.get(key):
            continue
        if key in growable and key in old and key in new:
            try:
                if _limit(new[key]) >= _limit(old[key]):
                    continue
            except ValueError:
                pass
        changed.append(f"{key}: {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}")
    return changed


def choice_changes(folder: Path, choices: dict | None) -> list[str]:
    """`group: old -> new` for each config group chosen differently (`model: rcnn -> cnn`)."""
    saved_file = folder / "hydra.yaml"
    if choices is None or not saved_file.is_file():
        return []
    saved = chosen_groups(OmegaConf.to_container(OmegaConf.load(saved_file).hydra.runtime.choices))
    return [
        f"{group}: {saved.get(group)} -> {choice}"
        for group, choice in sorted(chosen_groups(choices).items())
        if saved.get(group) != choice
    ]


def check_same_job(
    cfg: DictConfig, out_dir: Path, growable: tuple[str, ...] = GROWABLE, choices: dict | None = None
) -> None:
    """Refuse a relaunch whose config differs from the one the folder holds (a finished job is checked
    with nothing growable: it is not trained further). `choices` (Hydra's runtime choices) lets the message
    say `model: rcnn -> cnn` rather than every key of the model group."""
    folder = out_dir / CONFIG_DIR
    if not (folder / "config.yaml").is_file():
        return
    schedule = str(OmegaConf.select(cfg, "scheduler.scheduler._target_", default=""))
    planned = growable and schedule.endswith(PLANNED_SCHEDULES)
    saved = OmegaConf.to_container(OmegaConf.load(folder / "config.yaml"), resolve=False)
    changed = differences(saved, OmegaConf.to_container(cfg, resolve=False), () if planned else growable)
    if not changed:
        return
    groups = choice_changes(folder, choices)
    regrouped = tuple(f"{g.split(':')[0]}." for g in groups)
    changed = groups + [c for c in changed if not c.startswith(regrouped)]
    shown = "; ".join(changed[:6]) + (f"; and {len(changed) - 6} more" if len(changed) > 6 else "")
    if planned and any(c.startswith(GROWABLE) for c in changed):
        shown += f"; {schedule.rsplit('.', 1)[-1]} is planned over the run's length, so it cannot grow"
    own = folder / "overrides.yaml"
    before = " ".join(OmegaConf.load(own)) if own.is_file() else ""
    raise OtherJobError(
        f"{out_dir} holds {'another' if growable else 'a finished'} job with other settings ({shown}); "
        "start a new folder (leave out hydra.run.dir / hydra.sweep.dir), or relaunch with the "
        f"folder's own overrides: {before or '(none)'}"
    )


def save_job_config(cfg: DictConfig, hydra_root: DictConfig, out_dir: Path) -> None:
    """The job's config files, as Hydra writes them: `config.yaml`, `hydra.yaml`, `overrides.yaml`."""
    folder = out_dir / CONFIG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (folder / "hydra.yaml").write_text(OmegaConf.to_yaml(hydra_root))
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(hydra_root.hydra.overrides.task))


def resume_checkpoint(cfg: DictConfig, out_dir: Path, resuming: bool) -> str | None:
    """`ckpt_path` when set (it must load weights-only), else on a relaunch `last.ckpt` or, when that is
    unreadable (a kill mid-write), the newest readable checkpoint beside it."""
    if cfg.get("ckpt_path"):
        load_checkpoint(cfg.ckpt_path)
        return str(cfg.ckpt_path)
    folder = out_dir / "checkpoints"
    found = readable_checkpoint(folder, folder / "last.ckpt") if resuming else None
    return str(found) if found else None


@contextmanager
def relaunch_hint(folder_key: str) -> Iterator[None]:
    """An interrupted job's last line ends with how to resume it: the same command into its folder
    (`folder_key`: `hydra.run.dir=<job folder>`, or `hydra.sweep.dir=<sweep folder>` for a sweep's job)."""
    try:
        yield
    except Interrupted as exc:
        raise Interrupted(
            exc.signum, f"{exc}; to resume it, relaunch the same command with {folder_key}"
        ) from None
