"""The Keras callback that connects a fit to its Optuna trial.

After every epoch it records the curves, stops a diverged run (NaN or inf loss), reports the
study metric to the trial, stops a run that has begun to overfit (the study's `[overfit]`
rules) and asks the study's pruner whether to stop. A stopped trial records why
(`prune_reason`: diverged, overfitting-gap, overfitting-loss or pruner), where
(`pruned_epoch`, 1-based) and its curves so far (`history`), for the dashboard.

The overfitting rules, checked only after `warmup_epochs`, each must hold `patience` epochs in a
row:
    overfitting-gap:  train accuracy - validation accuracy > max_gap
    overfitting-loss: validation loss is above its best so far, and training loss below
                      what it was at that best epoch (it rises while training loss falls)
and either fires only once validation accuracy has made no new best during those epochs:
overfitting that still comes with better validation accuracy is not stopped. Without that
guard, on the 1,500-row epochs study, runs that overfit by loss but crept up half a point in
accuracy until epoch 15-20 were pruned, and the best result was lost.
Train accuracy here is measured with dropout and noise off on a fixed subsample of the training
rows (`train_eval_accuracy` in the history): the running accuracy in Keras' epoch logs is taken
with dropout on, while the weights move, and is not the train accuracy.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import keras
import numpy as np
import optuna

from tuner.study import Constraints, OverfitSpec
from tuner.training.data import Split

TRAIN_EVAL_KEY = "train_eval_accuracy"
EVAL_BATCH = 2048  # evaluation has no gradient state: large batches are just faster


class TrialCallback(keras.callbacks.Callback):
    def __init__(
        self,
        trial: optuna.Trial,
        *,
        metric: str = "val_accuracy",
        overfit: OverfitSpec | None = None,
        train: Split | None = None,
        constraints: Constraints | None = None,
    ) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.overfit = overfit if overfit is not None else OverfitSpec(enabled=False)
        self.constraints = constraints  # for metric capstone_margin, measured every epoch
        self.history: dict[str, list[float | None]] = {}
        self.train_eval_seconds = 0.0  # time spent measuring train accuracy, for the record
        self._epochs = 0
        self._streaks = {"gap": 0, "loss": 0}
        self._warned: set[str] = set()
        self._train_sample = (
            _fixed_sample(train, self.overfit.eval_rows) if train is not None else None
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})  # a copy: Keras' History reads the same dict after us
        if self._needs_train_accuracy(epoch) and TRAIN_EVAL_KEY not in logs:
            measured = self.measure_train_accuracy()
            if measured is not None:
                logs[TRAIN_EVAL_KEY] = measured
        if self.metric == "capstone_margin":
            logs.update(self._margin(logs))
        self._record(logs)

        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.prune("diverged", epoch)

        value = logs.get(self.metric)
        if value is None:
            self._warn_once(
                self.metric,
                f"TrialCallback: metric {self.metric!r} is not in the epoch logs "
                f"(available: {', '.join(sorted(logs)) or 'none'}); nothing is reported.",
            )
        else:
            self.trial.report(float(value), step=epoch)

        reason = self._overfitting(epoch, logs)
        if reason is not None:
            self.prune(reason, epoch)
        if value is not None and self.trial.should_prune():
            self.prune("pruner", epoch)

    def measure_train_accuracy(self) -> float | None:
        """Accuracy on the fixed training subsample, dropout and noise off (inference mode)."""
        if self._train_sample is None or self.model is None:
            return None
        start = time.perf_counter()
        x, labels = self._train_sample
        correct = 0
        for i in range(0, len(x), EVAL_BATCH):
            probs = keras.ops.convert_to_numpy(self.model(x[i : i + EVAL_BATCH], training=False))
            correct += int(np.sum(np.argmax(probs, axis=1) == labels[i : i + EVAL_BATCH]))
        self.train_eval_seconds += time.perf_counter() - start
        return correct / len(x)

    def prune(self, reason: str, epoch: int) -> None:
        self.trial.set_user_attr("prune_reason", reason)
        self.trial.set_user_attr("pruned_epoch", epoch + 1)
        self.trial.set_user_attr("history", self.history)
        self.trial.set_user_attr("train_eval_seconds", self.train_eval_seconds)
        raise optuna.TrialPruned(f"{reason} at epoch {epoch + 1}")

    def _needs_train_accuracy(self, epoch: int) -> bool:
        if self.metric == "capstone_margin":
            return True
        rules = self.overfit
        return rules.enabled and "gap" in rules.rules and epoch + 1 > rules.warmup_epochs

    def _margin(self, logs: dict[str, Any]) -> dict[str, float]:
        """This epoch's capstone_margin, from the subsample's train accuracy (the objective's
        final value uses the whole training split)."""
        train_acc, val_acc = logs.get(TRAIN_EVAL_KEY), logs.get("val_accuracy")
        if self.constraints is None or train_acc is None or val_acc is None:
            return {}
        return {
            "capstone_margin": self.constraints.margin(
                float(val_acc), float(train_acc) - float(val_acc)
            )
        }

    def _record(self, logs: dict[str, Any]) -> None:
        """Append this epoch; keys that appear late (train_eval_accuracy) are padded with None."""
        for key in logs.keys() | self.history.keys():
            column = self.history.setdefault(key, [None] * self._epochs)
            value = logs.get(key)
            column.append(None if value is None else float(value))
        self._epochs += 1

    def _overfitting(self, epoch: int, logs: dict[str, Any]) -> str | None:
        """The overfitting reason if a rule has now held `patience` epochs in a row, else None."""
        rules = self.overfit
        if not rules.enabled or epoch + 1 <= rules.warmup_epochs:
            return None
        if "gap" in rules.rules:
            train_acc, val_acc = logs.get(TRAIN_EVAL_KEY), logs.get("val_accuracy")
            if train_acc is None or val_acc is None:
                self._warn_once(
                    "gap",
                    "TrialCallback: the gap rule needs train accuracy (pass the training split) "
                    "and val_accuracy (fit with validation data); it is skipped.",
                )
                self._streaks["gap"] = 0
            else:
                over = float(train_acc) - float(val_acc) > rules.max_gap
                self._streaks["gap"] = self._streaks["gap"] + 1 if over else 0
            if self._streaks["gap"] >= rules.patience and self._stalled():
                return "overfitting-gap"
        if "loss" in rules.rules:
            self._streaks["loss"] = self._streaks["loss"] + 1 if self._loss_diverging() else 0
            if self._streaks["loss"] >= rules.patience and self._stalled():
                return "overfitting-loss"
        return None

    def _stalled(self) -> bool:
        """No new best validation accuracy within the last `patience` epochs."""
        accuracies = [a for a in self.history.get("val_accuracy", []) if a is not None]
        window = self.overfit.patience
        if len(accuracies) <= window:
            return False
        return max(accuracies[-window:]) <= max(accuracies[:-window])

    def _loss_diverging(self) -> bool:
        """Validation loss is above its best so far, training loss below where it was then.

        Compared with the best epoch rather than the previous one, so noise in the validation
        loss (dropout, small batches) does not reset the count while the trend is up.
        """
        val_loss, loss = self.history.get("val_loss", []), self.history.get("loss", [])
        pairs = [(v, t) for v, t in zip(val_loss, loss) if v is not None and t is not None]
        if len(pairs) < 2 or len(pairs) != len(val_loss):
            return False
        best = min(range(len(pairs) - 1), key=lambda i: pairs[i][0])
        (val_now, train_now), (val_best, train_then) = pairs[-1], pairs[best]
        return val_now > val_best and train_now < train_then

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            warnings.warn(message)
            self._warned.add(key)


def _fixed_sample(train: Split, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `rows` evenly spaced training rows and their labels: the same rows every epoch."""
    index = np.linspace(0, len(train) - 1, num=min(rows, len(train))).round().astype(int)
    return train.x[index], np.argmax(train.y[index], axis=1)
