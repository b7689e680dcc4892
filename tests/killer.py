"""A Lightning callback that SIGKILLs its own process: a real, unclean interruption for resume tests.

Loaded by `train.py` subprocesses via PYTHONPATH=tests and `+callbacks.killer._target_=killer.KillAtEpoch`.
"""

import os
import signal

import lightning as L


class KillAtEpoch(L.Callback):
    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
