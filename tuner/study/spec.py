"""What a study file says, as data: the StudySpec and one dataclass per section table.

Each section field carries its limits in its metadata (`limit`, `one_of`, `flag`): the type is
the annotation, and tuner.study.parse checks every table against them, so a field's range, doc
and message live in one place. Checks that span fields live in tuner.study.parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import optuna

from tuner.study.samplers import build_pruner, build_sampler
from tuner.study.space import Param

# capstone_margin: how far a run clears both [constraints] (see Constraints.margin); positive
# when feasible, so maximizing it favours configs with slack on every rule, not accuracy alone.
METRICS = {"val_accuracy": "maximize", "val_loss": "minimize", "capstone_margin": "maximize"}
# What trials are measured on: training rows held out from training (the capstone search), or
# the test rows, as the course's exercises measure each option.
EVALUATE_ON = ("validation", "test")
OVERFIT_RULES = ("gap", "loss")

LIMIT = "limit"  # the metadata key of a section field's Limit


@dataclass(frozen=True)
class Limit:
    """What a section field accepts: numbers within [lowest, highest], or one of `choices`.

    A list field (a tuple annotation) applies the limit to each item.
    """

    doc: str
    lowest: float | None = None
    highest: float | None = None
    choices: tuple[str, ...] = ()


def limit(lowest: float | None, highest: float | None, doc: str) -> dict[str, Limit]:
    return {LIMIT: Limit(doc, lowest, highest)}


def one_of(choices: tuple[str, ...], doc: str) -> dict[str, Limit]:
    return {LIMIT: Limit(doc, choices=choices)}


def flag(doc: str) -> dict[str, Limit]:
    return {LIMIT: Limit(doc)}


@dataclass(frozen=True)
class DataSpec:
    """`[data]`: which MNIST rows train and which measure a trial (see tuner.training.data)."""

    train_rows: int = field(
        default=6000, metadata=limit(1, 60000, "x_train[:train_rows], the course's definition")
    )
    validation_rows: tuple[int, int] = field(
        default=(6000, 16000),
        metadata=limit(0, 60000, "[start, stop] of x_train, disjoint from the training rows"),
    )
    # "validation" never reads x_test; "test" measures trials on x_test[:test_rows] instead
    # of the validation rows (the course's exercises; never a search for the capstone).
    evaluate_on: str = field(
        default="validation", metadata=one_of(EVALUATE_ON, "what trials are measured on")
    )
    test_rows: int = field(
        default=10000, metadata=limit(1, 10000, 'x_test[:test_rows], with evaluate_on = "test"')
    )


@dataclass(frozen=True)
class Constraints:
    """Capstone rules as measured on the validation split during the search (feasibility).

    The validation rows are harder than the test rows, so a validation gap overstates the test
    gap by about `gap_offset`: the gap rule is |gap - gap_offset| <= max_gap, a window around
    the validation gap that stands for a zero test gap (offset 0: the plain |gap| <= max_gap).
    """

    min_val_accuracy: float = field(
        default=0.87,
        metadata=limit(0, 1, "validation accuracy a feasible trial reaches, a fraction"),
    )
    max_gap: float = field(
        default=0.01, metadata=limit(0, 1, "half the width of the window around gap_offset")
    )
    gap_offset: float = field(
        default=0.0, metadata=limit(-1, 1, "the validation gap that stands for a zero test gap")
    )

    def gap_excess(self, gap: float) -> float:
        """How far a train - validation gap lies outside the window (<= 0: inside)."""
        return abs(gap - self.gap_offset) - self.max_gap

    def accuracy_shortfall(self, val_accuracy: float) -> float:
        return self.min_val_accuracy - val_accuracy

    def margin(self, val_accuracy: float, gap: float) -> float:
        """The slack on the tighter rule, in accuracy points; >= 0 exactly when feasible."""
        return -max(self.gap_excess(gap), self.accuracy_shortfall(val_accuracy))


@dataclass(frozen=True)
class Capstone:
    """The course's literal rules, judged by the reporter on the real test set."""

    min_test_accuracy: float = field(
        default=0.87, metadata=limit(0, 1, "test accuracy the capstone asks for, a fraction")
    )
    max_gap: float = field(
        default=0.01, metadata=limit(0, 1, "largest |train - test| accuracy, a fraction")
    )
    epochs: int = field(default=5, metadata=limit(1, 1000, "epochs the capstone trains for"))


@dataclass(frozen=True)
class OverfitSpec:
    """When the trial callback stops a run that has begun to overfit (the `[overfit]` table).

    A rule fires after it has held for `patience` epochs in a row, counting only epochs after
    the warm-up, so the earliest stop is epoch warmup_epochs + patience: a 5-epoch study with
    the defaults is never touched.
    """

    enabled: bool = field(
        default=True, metadata=flag("false: report to the pruner and stop diverged runs only")
    )
    rules: tuple[str, ...] = field(
        default=OVERFIT_RULES, metadata=one_of(OVERFIT_RULES, "the rules that may stop a run")
    )
    warmup_epochs: int = field(
        default=5, metadata=limit(0, None, "epochs before any rule is checked")
    )
    patience: int = field(
        default=5, metadata=limit(1, None, "epochs in a row a rule must hold to stop the trial")
    )
    max_gap: float = field(
        default=0.05,
        metadata=limit(0, 1, "gap rule: train accuracy (dropout off) minus validation accuracy"),
    )
    eval_rows: int = field(
        default=1000, metadata=limit(1, None, "training rows the gap rule measures, each epoch")
    )


@dataclass(frozen=True)
class Robustness:
    """Train every search trial on several weight seeds at once, so feasibility is not one
    lucky run (tuner.training.replicas: K seeds in one fit cost far less than K fits).

    With `seeds` > 1 a trial's constraints use its worst seed and its objective the lower
    confidence bound mean - std of the metric over its seeds.
    """

    seeds: int = field(
        default=1, metadata=limit(1, 64, "weight seeds each search trial trains together")
    )


@dataclass(frozen=True)
class Synthetic:
    """`[synthetic]`: train nothing; a closed-form score stands in for Keras.

    The score is tuner.training.synthetic's. For tests and storage benchmarks of the worker,
    pool and storage code only: no accuracy claim may rest on a synthetic study.
    """

    epoch_seconds: float = field(
        default=0.1, metadata=limit(0, 60, "each epoch's sleep, so trials overlap like real ones")
    )


@dataclass(frozen=True)
class Goal:
    """`[goal]`: search until a config is confirmed on fresh capstone seeds, or the budget ends.

    A candidate (a trial feasible on validation, or near it) is first judged on `choose_seeds`
    capstone seeds; one that passes `choose_pass_rate` of them is then confirmed on
    `confirm_seeds` fresh seeds, disjoint from the choosing ones, so the confirmed pass rate is an
    honest estimate rather than the best of many draws. The goal is reached when a confirmation
    passes `pass_rate`; `n_trials` stays the ceiling of the search, `max_minutes` of the job.
    """

    pass_rate: float = field(
        default=0.95, metadata=limit(0, 1, "share of the fresh seeds the confirmed config passes")
    )
    choose_seeds: int = field(
        default=10, metadata=limit(1, 1000, "capstone seeds each candidate is judged on first")
    )
    choose_pass_rate: float = field(
        default=0.9, metadata=limit(0, 1, "share of the choosing seeds a candidate must pass")
    )
    confirm_seeds: int = field(
        default=20, metadata=limit(1, 1000, "fresh seeds the chosen candidate is confirmed on")
    )
    max_minutes: float = field(
        default=0.0, metadata=limit(0, None, "wall-clock budget of the whole job; 0: none")
    )
    max_candidates: int = field(default=10, metadata=limit(1, 1000, "candidates judged at most"))
    gap_margin: float = field(
        default=0.01,
        metadata=limit(
            -1,
            1,
            "judge trials whose validation gap is up to this far outside the window; negative: "
            "only trials at least this far inside it",
        ),
    )
    judges: int = field(
        default=1, metadata=limit(1, 1000, "workers judging at the same time; the rest search")
    )
    choose_in_one_fit: bool = field(
        default=True,
        metadata=flag("train the choosing seeds together in one fit; false: one fit per seed"),
    )

    # Seed ranges apart from each other and from the search's (sampler seed + trial number).
    CHOOSE_SEED_BASE: ClassVar[int] = 10_000
    CONFIRM_SEED_BASE: ClassVar[int] = 20_000

    def choosing_seeds(self) -> list[int]:
        return [self.CHOOSE_SEED_BASE + i for i in range(self.choose_seeds)]

    def confirming_seeds(self) -> list[int]:
        return [self.CONFIRM_SEED_BASE + i for i in range(self.confirm_seeds)]


@dataclass(frozen=True)
class StudySpec:
    name: str
    path: str
    text: str
    description: str
    n_trials: int
    metric: str
    direction: str
    data: DataSpec
    constraints: Constraints
    capstone: Capstone
    robustness: Robustness
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    space: dict[str, Param]
    overfit: OverfitSpec = field(default_factory=OverfitSpec)
    synthetic: Synthetic | None = None
    goal: Goal | None = None
    # Params enqueued as the first trials of a new study (`[[warm_start]]` tables).
    warm_start: tuple[dict[str, Any], ...] = ()

    def make_sampler(self, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
        """Build the sampler; each worker offsets the seed so workers do not sample in lockstep."""
        return build_sampler(self.sampler, self.space, seed_offset)

    def make_pruner(self) -> optuna.pruners.BasePruner:
        return build_pruner(self.pruner)
