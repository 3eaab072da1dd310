"""The Keras callbacks that connect a fit to its Optuna trial, one job each:

- train_accuracy: TrainAccuracy writes train accuracy (dropout off, fixed subsample) into the logs
- margin:         CapstoneMargin writes this epoch's capstone_margin into the logs
- overfit:        the overfitting rules, sharing "held `patience` epochs after the warm-up, with
                  validation accuracy stalled"
- report:         ReportAndPrune records the curves, stops diverged runs, reports the metric,
                  asks the overfitting rules and the pruner
- deadline:       StopAtDeadline ends a judge's fit once the job's time is up

Keras calls a fit's callbacks in list order and hands each the same logs dict within an epoch
(keras/src/callbacks/callback_list.py), so a callback sees what those before it wrote there.
`trial_callbacks` builds the list the objective fits with.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import optuna

from tuner.study import Constraints, StudySpec
from tuner.training.callbacks.deadline import StopAtDeadline
from tuner.training.callbacks.margin import MARGIN_KEY, CapstoneMargin
from tuner.training.callbacks.overfit import GapRule, LossRule, OverfitRule, overfit_rules
from tuner.training.callbacks.report import ReportAndPrune
from tuner.training.callbacks.train_accuracy import EVAL_BATCH, TRAIN_EVAL_KEY, TrainAccuracy
from tuner.training.data import Split

__all__ = [
    "EVAL_BATCH",
    "MARGIN_KEY",
    "TRAIN_EVAL_KEY",
    "CapstoneMargin",
    "GapRule",
    "LossRule",
    "OverfitRule",
    "ReportAndPrune",
    "StopAtDeadline",
    "TrainAccuracy",
    "TrialCallbacks",
    "overfit_rules",
    "trial_callbacks",
]


@dataclass(frozen=True)
class TrialCallbacks:
    """One trial's callbacks; ReportAndPrune keeps its curves, TrainAccuracy its cost."""

    report: ReportAndPrune
    train_accuracy: TrainAccuracy | None = None
    margin: CapstoneMargin | None = None

    def for_fit(self) -> list[keras.callbacks.Callback]:
        """The list to pass to `fit`, in the order they must run.

        Keras' History goes first: Keras appends its own after ours otherwise, and it would then
        record the keys ours add, ragged (train_eval_accuracy only after the warm-up). Given one
        in the list, Keras uses it, and `fit` returns the fit's own metrics as before.
        """
        ours = [self.train_accuracy, self.margin, self.report]
        return [keras.callbacks.History(), *(c for c in ours if c is not None)]

    @property
    def train_eval_seconds(self) -> float:
        return self.train_accuracy.seconds if self.train_accuracy is not None else 0.0


def trial_callbacks(
    trial: optuna.Trial, spec: StudySpec, train: Split, constraints: Constraints | None = None
) -> TrialCallbacks:
    """The callbacks a trial of this study fits with. Train accuracy is measured only where it
    is used: every epoch for the capstone_margin metric, after the warm-up for the gap rule."""
    overfit = spec.overfit
    margin = spec.metric == MARGIN_KEY
    measure_after: int | None = None
    if margin:
        measure_after = 0
    elif overfit.enabled and "gap" in overfit.rules:
        measure_after = overfit.warmup_epochs
    return TrialCallbacks(
        report=ReportAndPrune(trial, metric=spec.metric, overfit=overfit),
        train_accuracy=None
        if measure_after is None
        else TrainAccuracy(train, rows=overfit.eval_rows, after_epochs=measure_after),
        margin=CapstoneMargin(constraints or spec.constraints) if margin else None,
    )
