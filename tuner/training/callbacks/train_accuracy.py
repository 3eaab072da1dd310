"""The train accuracy a trial is judged by, measured each epoch into the epoch logs.

The running accuracy in Keras' epoch logs is taken with dropout on, while the weights move, and
is not the train accuracy. This callback measures it with dropout and noise off (inference mode)
on a fixed subsample of the training rows and writes it into the logs as `train_eval_accuracy`,
where the callbacks after it in the list read it.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np

from tuner.training.data import Split

TRAIN_EVAL_KEY = "train_eval_accuracy"
EVAL_BATCH = 2048  # evaluation has no gradient state: large batches are just faster


class TrainAccuracy(keras.callbacks.Callback):
    """Measures train accuracy on `rows` evenly spaced training rows after every epoch past
    `after_epochs` (the overfitting warm-up; 0 for every epoch).

    Logs that already carry `train_eval_accuracy` are left as they are (tests feed it).
    """

    def __init__(self, train: Split, *, rows: int, after_epochs: int = 0) -> None:
        super().__init__()
        self.after_epochs = after_epochs
        self.seconds = 0.0  # time spent measuring, for the trial's record
        self._x, self._labels = _fixed_sample(train, rows)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None or epoch + 1 <= self.after_epochs or TRAIN_EVAL_KEY in logs:
            return
        if self.model is not None:
            logs[TRAIN_EVAL_KEY] = self.measure()

    def measure(self) -> float:
        """Accuracy on the fixed training subsample, dropout and noise off (inference mode)."""
        start = time.perf_counter()
        correct = checked = 0
        for i in range(0, len(self._x), EVAL_BATCH):
            batch = self._x[i : i + EVAL_BATCH]
            probs = keras.ops.convert_to_numpy(self.model(batch, training=False))
            labels = self._labels[i : i + EVAL_BATCH]
            if probs.ndim == 3:  # (rows, replicas, 10): the mean over replicas
                labels = labels[:, None]
            hits = np.argmax(probs, axis=-1) == labels
            correct, checked = correct + int(hits.sum()), checked + hits.size
        self.seconds += time.perf_counter() - start
        return correct / checked


def _fixed_sample(train: Split, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `rows` evenly spaced training rows and their labels: the same rows every epoch."""
    index = np.linspace(0, len(train) - 1, num=min(rows, len(train))).round().astype(int)
    return train.x[index], np.argmax(train.y[index], axis=1)
