"""Progress a log file can hold: one plain line every N training steps when stdout is not a terminal.

A progress bar redraws one terminal line; piped into a file or a batch system's log it shows nothing
useful for the whole run. `ProgressLines` says where training is, how fast it goes and when it will end.
It stays silent on a terminal, where the progress bar already shows all of this.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import lightning as L


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLines(L.Callback):
    """Print `epoch e/E step s/S loss ... rate eta` every `every_n_steps` optimizer steps, plus each
    validation loss, when `stream` (stdout by default) is not a terminal; `always` prints on a terminal
    too."""

    def __init__(self, every_n_steps: int = 50, always: bool = False, stream: TextIO | None = None) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps={every_n_steps}: must be >= 1")
        self.every_n_steps, self.always, self.stream = every_n_steps, always, stream
        self._start = 0.0
        self._start_step = 0

    @property
    def out(self) -> TextIO:
        return self.stream or sys.stdout

    @property
    def active(self) -> bool:
        return self.always or not self.out.isatty()

    def _print(self, trainer: L.Trainer, line: str) -> None:
        if self.active and trainer.is_global_zero:
            print(line, file=self.out, flush=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._start_step = time.perf_counter(), trainer.global_step
        total = trainer.estimated_stepping_batches
        self._print(trainer, f"training: {total} steps at most, a line every {self.every_n_steps}")

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step == self._start_step or step % self.every_n_steps:
            return
        elapsed = time.perf_counter() - self._start
        rate = (step - self._start_step) / max(elapsed, 1e-9)
        total = int(trainer.estimated_stepping_batches)
        eta = format_duration((total - step) / rate) if rate > 0 and total > step else "-"
        loss = trainer.callback_metrics.get("train/loss_step")
        shown = f" loss {float(loss):.4f}" if loss is not None else ""
        self._print(
            trainer,
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} step {step}/{total}{shown} "
            f"{rate:.2f} steps/s elapsed {format_duration(elapsed)} eta {eta}",
        )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        scores = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if scores:
            shown = " ".join(f"{k} {v:.4f}" for k, v in sorted(scores.items()))
            self._print(trainer, f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} {shown}")
