"""Lightning callbacks that interrupt their own job for real (SIGKILL, a hang): for resume tests.

Loaded by `train.py` subprocesses via PYTHONPATH=tests and `+callbacks.killer._target_=killer.KillAtEpoch`.
"""

import os
import signal
import time

import lightning as L
from hydra.experimental.callback import Callback


class KillAtEpoch(L.Callback):
    """SIGKILLs its own job at the start of `epoch`; with a `marker` file, only the first time, so the
    relaunch of the very same command (same config) runs through."""

    def __init__(self, epoch: int = 1, marker: str | None = None, signum: int = signal.SIGKILL) -> None:
        self.epoch, self.marker, self.signum = epoch, marker, signum

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch != self.epoch or (self.marker and os.path.exists(self.marker)):
            return
        if self.marker:
            open(self.marker, "w").close()
        os.kill(os.getpid(), self.signum)


class TimeLimitOnce(L.Callback):
    """At the start of `epoch`, the first time only (a marker file remembers), sends its own job the signal
    SLURM (or submitit's local controller) sends a job ahead of its time limit, then hangs as a job past its
    limit would; the requeued job then runs through. Sent by the job rather than waited for, so the test
    does not sit out a time limit; submitit's handler takes it for a time-out all the same (under 10 minutes
    of requested time every signal counts as one), checkpoints and requeues."""

    def __init__(self, marker: str, epoch: int = 1) -> None:
        self.marker, self.epoch = marker, epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch != self.epoch:
            return
        try:  # created atomically: of the jobs of a sweep sharing the marker, exactly one is timed out
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        import submitit

        os.kill(
            os.getpid(), submitit.JobEnvironment()._usr_sig()
        )  # the signal of its executor (local, SLURM)
        time.sleep(3600)


class InterruptAtRunStart(Callback):
    """A Hydra callback that sends its own process SIGINT before the job function starts, as a Ctrl-C
    while Hydra composes the config or the job's imports load would: before the job's signal handler."""

    def on_run_start(self, config, **kwargs) -> None:
        os.kill(os.getpid(), signal.SIGINT)
