"""The overfitting rules (the study's `[overfit]` table), checked only after `warmup_epochs`:

    overfitting-gap:  train accuracy - validation accuracy > max_gap
    overfitting-loss: validation loss is above its best so far, and training loss below
                      what it was at that best epoch (it rises while training loss falls)

A rule fires once it has held `patience` epochs in a row and validation accuracy has made no new
best during those epochs: overfitting that still comes with better validation accuracy is not
stopped: a run whose validation loss turns up can still creep up in accuracy for many epochs,
and the best result would be lost.

The rules share that bookkeeping (OverfitRule) and differ only in `holds`. ReportAndPrune asks
them after each epoch, with the curves recorded so far.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any

from tuner.study import OverfitSpec
from tuner.study.record import Curves
from tuner.training.callbacks.train_accuracy import TRAIN_EVAL_KEY


class OverfitRule(ABC):
    reason: str  # the trial's prune_reason when this rule stops it

    def __init__(self, spec: OverfitSpec) -> None:
        self.spec = spec
        self.streak = 0  # epochs in a row, after the warm-up, the rule has held

    @abstractmethod
    def holds(self, logs: dict[str, Any], history: Curves) -> bool:
        """Whether the rule holds this epoch; `history` includes this epoch."""

    def fires(self, epoch: int, logs: dict[str, Any], history: Curves) -> bool:
        """Whether the rule has now held `patience` epochs in a row with accuracy stalled."""
        if epoch + 1 <= self.spec.warmup_epochs:
            return False
        self.streak = self.streak + 1 if self.holds(logs, history) else 0
        return self.streak >= self.spec.patience and self._stalled(history)

    def _stalled(self, history: Curves) -> bool:
        """No new best validation accuracy within the last `patience` epochs."""
        accuracies = [a for a in history.get("val_accuracy", []) if a is not None]
        window = self.spec.patience
        if len(accuracies) <= window:
            return False
        return max(accuracies[-window:]) <= max(accuracies[:-window])


class GapRule(OverfitRule):
    reason = "overfitting-gap"

    def __init__(self, spec: OverfitSpec) -> None:
        super().__init__(spec)
        self._warned = False

    def holds(self, logs: dict[str, Any], history: Curves) -> bool:
        train_acc, val_acc = logs.get(TRAIN_EVAL_KEY), logs.get("val_accuracy")
        if train_acc is None or val_acc is None:
            if not self._warned:
                warnings.warn(
                    "GapRule: the gap rule needs train accuracy (pass the training split) "
                    "and val_accuracy (fit with validation data); it is skipped.",
                    stacklevel=2,
                )
                self._warned = True
            return False
        return float(train_acc) - float(val_acc) > self.spec.max_gap


class LossRule(OverfitRule):
    reason = "overfitting-loss"

    def holds(self, logs: dict[str, Any], history: Curves) -> bool:
        """Validation loss is above its best so far, training loss below where it was then.

        Compared with the best epoch rather than the previous one, so noise in the validation
        loss (dropout, small batches) does not reset the count while the trend is up.
        """
        val_loss, loss = history.get("val_loss", []), history.get("loss", [])
        pairs = [
            (v, t) for v, t in zip(val_loss, loss, strict=False) if v is not None and t is not None
        ]
        if len(pairs) < 2 or len(pairs) != len(val_loss):
            return False
        best = min(range(len(pairs) - 1), key=lambda i: pairs[i][0])
        (val_now, train_now), (val_best, train_then) = pairs[-1], pairs[best]
        return val_now > val_best and train_now < train_then


def overfit_rules(spec: OverfitSpec) -> list[OverfitRule]:
    """The study's enabled rules, gap before loss (the first to fire names the reason)."""
    if not spec.enabled:
        return []
    return [
        rule(spec) for name, rule in (("gap", GapRule), ("loss", LossRule)) if name in spec.rules
    ]
