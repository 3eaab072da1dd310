"""Which trials of a study are worth judging on the capstone split, best first."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.study import Constraints, record


def candidates(
    study: optuna.Study, constraints: Constraints, *, gap_margin: float, limit: int
) -> list[FrozenTrial]:
    """Complete trials within the accuracy floor and within gap_margin of the gap window (on
    every weight seed they trained; a negative gap_margin asks for that much room inside it),
    feasible ones first, then near-feasible ones, each by objective."""
    found = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        measured = record.Measurements.read(t)
        if record.config(t) is None or measured is None:
            continue
        worst_accuracy = min(measured.val_accuracies or [measured.val_accuracy])
        if constraints.accuracy_shortfall(worst_accuracy) > 0:
            continue
        worst_gap = measured.gap if measured.worst_gap is None else measured.worst_gap
        if constraints.gap_excess(worst_gap) > gap_margin:
            continue
        found.append(t)
    return record.ranked(found, study.direction)[:limit]


def best_measured(study: optuna.Study, *, limit: int) -> list[FrozenTrial]:
    """The best complete trials that recorded a config and measurements, whatever their
    validation figures: what the reporter judges when no trial comes near the rules."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    found = [
        t
        for t in complete
        if record.config(t) is not None and record.Measurements.read(t) is not None
    ]
    return record.ranked(found, study.direction)[:limit]
