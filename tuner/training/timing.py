"""Where a trial's time goes: seconds per phase, recorded in the trial (`timings`).

The phases, as the trial's `timings` user attribute names them:
    claim_wait       waiting on the budget lock (and, at the budget's edge, for running trials)
    claim            storage and sampler work to start the trial (stale checks, count, ask)
    build            building and compiling the model
    tracing          the first epoch's excess over the later ones: tracing the train and
                     validation functions
    train_steps      the fit's training steps, tracing excluded
    validation       the per-epoch validation passes, tracing excluded
    train_accuracy   the per-epoch train-accuracy measurement (TrainAccuracy)
    final_evaluate   the train accuracy after the fit (whole training split)
The worker loop records the first two, the objective the rest. Storage and sampler calls inside
the trial (suggest, report, should_prune, user attributes) are its wall time minus these.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import keras


class PhaseTimer(keras.callbacks.Callback):
    """Times each epoch's training steps and validation pass inside a fit; fit_and_measure adds
    the model's build and the train accuracy after the fit.

    It must come first in the fit's list, so an epoch's time ends before the callbacks that do
    work of their own (TrainAccuracy times itself).
    """

    def __init__(self) -> None:
        super().__init__()
        self.build = 0.0  # set by fit_and_measure, around the fit
        self.final_evaluate = 0.0
        self.steps: list[float] = []
        self.validation: list[float] = []
        self._epoch_start = self._test_start = 0.0
        self._epoch_validation = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_validation = 0.0

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._test_start = time.perf_counter()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self._epoch_validation = time.perf_counter() - self._test_start
        self.validation.append(self._epoch_validation)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        elapsed = time.perf_counter() - self._epoch_start
        self.steps.append(elapsed - self._epoch_validation)

    def phases(self) -> dict[str, float]:
        """build, train_steps, validation, their first-call excess as tracing, final_evaluate."""
        steps, steps_tracing = _split_first_call(self.steps)
        validation, validation_tracing = _split_first_call(self.validation)
        return {
            "build": self.build,
            "tracing": steps_tracing + validation_tracing,
            "train_steps": steps,
            "validation": validation,
            "final_evaluate": self.final_evaluate,
        }


def _split_first_call(seconds: list[float]) -> tuple[float, float]:
    """(total without tracing, tracing): the first call's excess over the median of the rest."""
    if len(seconds) < 2:
        return sum(seconds), 0.0
    tracing = max(0.0, seconds[0] - statistics.median(seconds[1:]))
    return sum(seconds) - tracing, tracing
