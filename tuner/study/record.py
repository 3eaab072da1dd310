"""Reading a study's outcome: trial counts, prune reasons, the best feasible trial."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

TARGET_ATTR = "target_trials"  # study user attr: finished trials the workers stop at


@dataclass
class StudyCounts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    feasible: int = 0
    prune_reasons: Counter = field(default_factory=Counter)

    @property
    def finished(self) -> int:
        """Trials that use up the budget; failed ones are retried and do not."""
        return self.complete + self.pruned


def is_feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and all(v <= 0 for v in trial.constraints.values())


def count_trials(trials: list[FrozenTrial]) -> StudyCounts:
    counts = StudyCounts()
    for t in trials:
        if t.state == TrialState.COMPLETE:
            counts.complete += 1
            counts.feasible += is_feasible(t)
        elif t.state == TrialState.PRUNED:
            counts.pruned += 1
            counts.prune_reasons[t.user_attrs.get("prune_reason", "pruner")] += 1
        elif t.state == TrialState.FAIL:
            counts.failed += 1
        elif t.state == TrialState.RUNNING:
            counts.running += 1
        elif t.state == TrialState.WAITING:
            counts.waiting += 1
    return counts


def best_trial(
    study: optuna.Study, trials: list[FrozenTrial] | None = None
) -> tuple[FrozenTrial | None, bool]:
    """(best trial, whether it is feasible): the best feasible one if any, else the best overall."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        return None, False
    sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    feasible = [t for t in complete if is_feasible(t)]
    pool = feasible or complete
    return max(pool, key=lambda t: sign * t.value), bool(feasible)
