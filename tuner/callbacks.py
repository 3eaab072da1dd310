"""The Keras callback that connects a fit to its Optuna trial.

After every epoch it records the curves, stops a diverged run (NaN or inf loss), reports the
study metric to the trial and asks the study's pruner whether to stop. A stopped trial records
why (`prune_reason`), where (`pruned_epoch`) and its curves so far, for the dashboard.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import optuna


class TrialCallback(keras.callbacks.Callback):
    def __init__(self, trial: optuna.Trial, *, metric: str = "val_accuracy") -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.history: dict[str, list[float]] = {}
        self._warned = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.prune("diverged", epoch)

        value = logs.get(self.metric)
        if value is None:
            if not self._warned:
                warnings.warn(
                    f"TrialCallback: metric {self.metric!r} is not in the epoch logs "
                    f"(available: {', '.join(sorted(logs)) or 'none'}); nothing is reported."
                )
                self._warned = True
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.prune("pruner", epoch)

    def prune(self, reason: str, epoch: int) -> None:
        self.trial.set_user_attr("prune_reason", reason)
        self.trial.set_user_attr("pruned_epoch", epoch + 1)
        self.trial.set_user_attr("history", self.history)
        raise optuna.TrialPruned(f"{reason} at epoch {epoch + 1}")
