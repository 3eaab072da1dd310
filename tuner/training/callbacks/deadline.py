"""Stop a fit once a wall-clock deadline has passed (a goal job's `max_minutes`)."""

from __future__ import annotations

import time
from typing import Any

import keras


class StopAtDeadline(keras.callbacks.Callback):
    """Ends the fit at the first batch after `deadline` (epoch seconds) and says so in `fired`:
    the fit is then unfinished, and its caller discards it."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.fired = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if time.time() >= self.deadline:
            self.fired = True
            self.model.stop_training = True
