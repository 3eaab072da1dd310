"""This epoch's capstone_margin, written into the epoch logs for the pruner to be told."""

from __future__ import annotations

from typing import Any

import keras

from tuner.study import Constraints
from tuner.training.callbacks.train_accuracy import TRAIN_EVAL_KEY

MARGIN_KEY = "capstone_margin"


class CapstoneMargin(keras.callbacks.Callback):
    """The slack on the tighter capstone rule (`Constraints.margin`), from the train accuracy
    TrainAccuracy wrote before it in the list. It uses the subsample's train accuracy; the
    objective's final value uses the whole training split."""

    def __init__(self, constraints: Constraints) -> None:
        super().__init__()
        self.constraints = constraints

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        train_acc, val_acc = logs.get(TRAIN_EVAL_KEY), logs.get("val_accuracy")
        if train_acc is not None and val_acc is not None:
            gap = float(train_acc) - float(val_acc)
            logs[MARGIN_KEY] = self.constraints.margin(float(val_acc), gap)
