"""The callback that connects a fit to its Optuna trial: record, stop diverged, report, prune.

After every epoch it appends the epoch logs to the trial's curves, stops a diverged run (NaN or
inf loss), reports the study metric to the trial, stops a run that has begun to overfit (the
study's `[overfit]` rules, in overfit.py) and asks the study's pruner whether to stop. A stopped
trial records why, where and its curves so far (tuner.study.record.write_pruned), for the
dashboard. It goes last in the list: it reads what the callbacks before it wrote into the logs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import optuna

from tuner.study import OverfitSpec
from tuner.study.record import Curves, write_pruned
from tuner.training.callbacks.overfit import overfit_rules


class ReportAndPrune(keras.callbacks.Callback):
    def __init__(
        self,
        trial: optuna.Trial,
        *,
        metric: str = "val_accuracy",
        overfit: OverfitSpec | None = None,
    ) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.rules = overfit_rules(overfit) if overfit is not None else []
        self.history: Curves = {}
        self._epochs = 0
        self._warned = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self._record(logs)

        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.prune("diverged", epoch)

        value = logs.get(self.metric)
        if value is None:
            self._warn_missing(logs)
        else:
            self.trial.report(float(value), step=epoch)

        for rule in self.rules:
            if rule.fires(epoch, logs, self.history):
                self.prune(rule.reason, epoch)
        if value is not None and self.trial.should_prune():
            self.prune("pruner", epoch)

    def prune(self, reason: str, epoch: int) -> None:
        write_pruned(self.trial, reason=reason, epoch=epoch + 1, history=self.history)
        raise optuna.TrialPruned(f"{reason} at epoch {epoch + 1}")

    def _record(self, logs: dict[str, Any]) -> None:
        """Append this epoch; keys that appear late (train_eval_accuracy) are padded with None."""
        for key in logs.keys() | self.history.keys():
            column = self.history.setdefault(key, [None] * self._epochs)
            value = logs.get(key)
            column.append(None if value is None else float(value))
        self._epochs += 1

    def _warn_missing(self, logs: dict[str, Any]) -> None:
        if not self._warned:
            warnings.warn(
                f"ReportAndPrune: metric {self.metric!r} is not in the epoch logs "
                f"(available: {', '.join(sorted(logs)) or 'none'}); nothing is reported.",
                stacklevel=2,
            )
            self._warned = True
