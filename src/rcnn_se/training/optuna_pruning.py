"""A search trial's job reports its validation loss to its Optuna trial after each validation and stops
training when the study's pruner says the trial is worse than the others were at that epoch. Added to a
trial's callbacks by the project's sweeper (rcnn_se.jobs.optuna_search), which reads the mark it leaves
(`pruned_at_epoch`) to tell the study the trial was pruned; the job itself still scores its best
checkpoint, so the pruned run in MLflow is complete and says where it stopped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L

PRUNED_AT = "pruned_at_epoch"  # the trial's user attribute that tells the sweeper the job stopped early


class OptunaPruning(L.Callback):
    def __init__(
        self,
        storage: str,
        study_name: str,
        trial_id: int,
        pruner: Mapping[str, Any] | None = None,
        monitor: str = "val/loss",
    ) -> None:
        """`pruner`: the search's median-pruner settings (a study loaded from storage has the default)."""
        self.storage, self.study_name, self.trial_id, self.monitor = storage, study_name, trial_id, monitor
        self.pruner = dict(pruner or {})

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import optuna

        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        pruner = optuna.pruners.MedianPruner(**self.pruner)
        study = optuna.load_study(study_name=self.study_name, storage=self.storage, pruner=pruner)
        trial = optuna.trial.Trial(study, self.trial_id)
        trial.report(float(value), step=trainer.current_epoch)
        if trial.should_prune():
            trial.set_user_attr(PRUNED_AT, trainer.current_epoch)
            for logger in trainer.loggers:  # the run says where it stopped
                logger.log_metrics(
                    {"optuna/pruned_at_epoch": trainer.current_epoch}, step=trainer.global_step
                )
            trainer.should_stop = True
