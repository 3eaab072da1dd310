"""What a trial and a study record (their user attributes), and reading a study's outcome.

The one module that names the stored keys: everything else writes and reads a trial's record
through the functions here. The key strings are what existing databases and the dashboard
already hold; a dataclass field here is spelt as the key it is stored under.

A trial records:
    setup:        config, seed (the real objective) or synthetic (the stand-in), worker
    finished:     Measurements: train_accuracy, val_accuracy, gap, fit_seconds, history, feasible,
                  capstone_margin and train_eval_seconds, and when trained on several weight
                  seeds at once: replicas, val_accuracies, train_accuracies, gaps, worst_gap,
                  objective_bound
    pruned:       prune_reason, pruned_epoch (1-based), history, train_eval_seconds
    failed:       fail_reason
    any state:    timings, seconds per phase of the trial (claim, build, train steps, tracing,
                  validation, train accuracy; tuner.training.timing names them)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

# A trial's user attributes other than its Measurements.
CONFIG = "config"
SEED = "seed"
SYNTHETIC = "synthetic"
WORKER = "worker"
HISTORY = "history"
PRUNE_REASON = "prune_reason"
PRUNED_EPOCH = "pruned_epoch"
TRAIN_EVAL_SECONDS = "train_eval_seconds"
FAIL_REASON = "fail_reason"
TIMINGS = "timings"

Curves = dict[str, list[Any]]  # a metric's value per epoch; None where it was not measured


def setup_attrs(config: dict[str, Any], *, seed: int | None = None) -> dict[str, Any]:
    """What a trial records before it trains: its config and the seed it trains with."""
    return {CONFIG: config} if seed is None else {CONFIG: config, SEED: seed}


def write_setup(trial: optuna.Trial, config: dict[str, Any], *, seed: int | None = None) -> None:
    _write(trial, setup_attrs(config, seed=seed))


def write_synthetic(trial: optuna.Trial) -> None:
    """Mark a trial scored by the TensorFlow-free stand-in: no accuracy claim rests on it."""
    trial.set_user_attr(SYNTHETIC, True)


def write_worker(trial: optuna.Trial, owner: str) -> None:
    """The worker (host:pid) that claimed the trial, so a dead worker's trials can be found."""
    trial.set_user_attr(WORKER, owner)


def write_failed(trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr(FAIL_REASON, reason[:500])


def pruned_attrs(*, reason: str, epoch: int, history: Curves) -> dict[str, Any]:
    """A stopped trial's record: why (diverged, overfitting-gap, overfitting-loss or pruner), at
    which 1-based epoch, and its curves so far."""
    return {PRUNE_REASON: reason, PRUNED_EPOCH: epoch, HISTORY: history}


def write_pruned(trial: optuna.Trial, *, reason: str, epoch: int, history: Curves) -> None:
    _write(trial, pruned_attrs(reason=reason, epoch=epoch, history=history))


def write_train_eval_seconds(trial: optuna.Trial, seconds: float) -> None:
    """Time spent measuring train accuracy during the fit (a pruned trial's cost record)."""
    trial.set_user_attr(TRAIN_EVAL_SECONDS, seconds)


def add_timings(trial: optuna.Trial, seconds: dict[str, float]) -> None:
    """Add phases to the trial's timings (the worker loop writes the claim, the objective the
    rest); a phase recorded twice keeps the later value."""
    recorded = trial.user_attrs.get(TIMINGS) or {}
    trial.set_user_attr(TIMINGS, {**recorded, **{k: round(v, 4) for k, v in seconds.items()}})


@dataclass(frozen=True)
class Measurements:
    """A finished trial's measurements (over weight seeds trained together: their means, and
    each seed's figures in the lists).

    Read back from a trial, a field is None where the trial did not record it (the synthetic
    objective, older studies, hand-made test trials); only the first three are required.
    """

    train_accuracy: float  # evaluated with dropout off on the whole training split
    val_accuracy: float
    gap: float  # train_accuracy - val_accuracy
    fit_seconds: float | None = None
    history: Curves = field(default_factory=dict)  # the epoch curves, as the callbacks kept them
    feasible: bool | None = None  # every constraint met
    capstone_margin: float | None = None
    gap_offset: float | None = None  # the centre of the gap window the trial was judged by
    train_eval_seconds: float | None = None  # measuring train accuracy during the fit
    # Only when trained on several weight seeds at once (the study's [robustness] seeds):
    replicas: int | None = None
    val_accuracies: list[float] | None = None
    train_accuracies: list[float] | None = None
    gaps: list[float] | None = None
    worst_gap: float | None = None  # the gap furthest over the limit, judged for feasibility
    objective_bound: float | None = None  # mean -/+ std over seeds: the trial's value

    def attrs(self) -> dict[str, Any]:
        """The user attributes these measurements are stored as; unrecorded ones left out."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def write(self, trial: optuna.Trial) -> None:
        _write(trial, self.attrs())

    @classmethod
    def read(cls, trial: FrozenTrial) -> Measurements | None:
        """The trial's measurements, or None if it recorded none (pruned, failed, running)."""
        attrs = trial.user_attrs
        if not all(key in attrs for key in ("train_accuracy", "val_accuracy", "gap")):
            return None
        return cls(**{f.name: attrs[f.name] for f in fields(cls) if f.name in attrs})


def config(trial: FrozenTrial) -> dict[str, Any] | None:
    return trial.user_attrs.get(CONFIG)


def seed(trial: FrozenTrial) -> int | None:
    return trial.user_attrs.get(SEED)


def history(trial: FrozenTrial) -> Curves:
    """The epoch curves of a finished or pruned trial; empty if it recorded none."""
    return trial.user_attrs.get(HISTORY) or {}


def prune_reason(trial: FrozenTrial) -> str | None:
    return trial.user_attrs.get(PRUNE_REASON)


def train_eval_seconds(trial: FrozenTrial) -> float:
    return trial.user_attrs.get(TRAIN_EVAL_SECONDS, 0.0)


def timings(trial: FrozenTrial) -> dict[str, float]:
    """Seconds per phase the trial recorded (empty for trials from before timings existed)."""
    return trial.user_attrs.get(TIMINGS) or {}


def worker(trial: FrozenTrial) -> str | None:
    return trial.user_attrs.get(WORKER)


def _write(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


# A study's user attributes, written by the launcher when it creates or extends the study.
TARGET_TRIALS = "target_trials"  # finished trials the workers stop at


@dataclass(frozen=True)
class Provenance:
    """Where a study's results come from; None, read back, where the study did not record it."""

    study_file: str | None = None
    description: str | None = None
    data_digest: str | None = None  # sha256 of the MNIST file every worker must train on
    data: dict[str, Any] | None = None  # the rows trained and judged on
    capstone_rules: dict[str, Any] | None = None
    validation_constraints: dict[str, Any] | None = None
    sampler: dict[str, Any] | None = None

    def write(self, study: optuna.Study) -> None:
        for key, value in asdict(self).items():
            study.set_user_attr(key, value)

    @classmethod
    def read(cls, study: optuna.Study) -> Provenance:
        attrs = study.user_attrs
        return cls(**{f.name: attrs.get(f.name) for f in fields(cls)})


def write_target(study: optuna.Study, target: int) -> None:
    study.set_user_attr(TARGET_TRIALS, target)


def has_target(study: optuna.Study) -> bool:
    return TARGET_TRIALS in study.user_attrs


def target_trials(study: optuna.Study, default: int) -> int:
    """The finished trials the workers stop at; `default` if the launcher set none."""
    return int(study.user_attrs.get(TARGET_TRIALS, default))


# Reading a study's outcome.
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
            counts.prune_reasons[prune_reason(t) or "pruner"] += 1
        elif t.state == TrialState.FAIL:
            counts.failed += 1
        elif t.state == TrialState.RUNNING:
            counts.running += 1
        elif t.state == TrialState.WAITING:
            counts.waiting += 1
    return counts


def ranked(trials: Iterable[FrozenTrial], direction: StudyDirection) -> list[FrozenTrial]:
    """The complete trials best first: feasible ones first, then by objective value in the
    study's direction (for re-seeded trials a confidence bound, not one lucky run). Ties keep
    the order given."""
    sign = -1.0 if direction == StudyDirection.MAXIMIZE else 1.0
    scored = [
        (t, t.value) for t in trials if t.state == TrialState.COMPLETE and t.value is not None
    ]
    scored.sort(key=lambda pair: (not is_feasible(pair[0]), sign * pair[1]))
    return [t for t, _ in scored]


def best_trial(
    study: optuna.Study, trials: list[FrozenTrial] | None = None
) -> tuple[FrozenTrial | None, bool]:
    """(best trial, whether it is feasible): the best feasible one if any, else the best overall."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    best = ranked(trials, study.direction)[:1]
    return (best[0], is_feasible(best[0])) if best else (None, False)
