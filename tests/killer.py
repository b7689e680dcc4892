"""Lightning callbacks that interrupt their own job for real (SIGKILL, a hang): for resume tests.

Loaded by `train.py` subprocesses via PYTHONPATH=tests and `+callbacks.killer._target_=killer.KillAtEpoch`.
"""

import os
import signal
import time

import lightning as L


class KillAtEpoch(L.Callback):
    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


class StallOnce(L.Callback):
    """Hangs at the start of `epoch` the first time only (a marker file remembers), as a job that hits its
    time limit would; the requeued job then runs through."""

    def __init__(self, marker: str, epoch: int = 1) -> None:
        self.marker, self.epoch = marker, epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            time.sleep(3600)
