"""The course's exercises (sections 2.2-2.9): what each asks, and its finished study judged.

Each exercise is a grid study in studies/course_*.toml: every option trained once per seed and
measured on test rows, as the course measures it. `summarize` turns a finished study into each
option's runs; `judge` says whether the course's answer wins beyond noise:

    A beats B   a one-sided Welch t-test over their seeds gives p < ALPHA (0.05): A's mean is
                better by more than the seed-to-seed spread explains
    holds       the course's answer beats every other option
    fails       some other option beats the course's answer
    not shown   neither: the runs cannot tell the course's answer from some other option
An exercise whose course names no answer gets its best option by mean, and whether that one
beats every other option.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

from tuner.results.exercises import METRICS, Exercise
from tuner.study import record

ALPHA = 0.05
REPEAT = "seed_repeat"  # the grid parameter that repeats an option over seeds


@dataclass(frozen=True)
class Run:
    seed: int
    test_accuracy: float
    train_accuracy: float | None  # None for a diverged run (it was stopped)
    gap: float | None
    diverged: bool
    history: dict[str, list[float]]

    @property
    def abs_gap(self) -> float | None:
        return None if self.gap is None else abs(self.gap)

    def value(self, metric: str) -> float | None:
        return getattr(self, metric)


@dataclass
class Option:
    label: str
    params: dict[str, Any]
    runs: list[Run] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [v for v in (r.value(metric) for r in self.runs) if v is not None]

    def mean(self, metric: str) -> float:
        values = self.values(metric)
        return statistics.fmean(values) if values else math.nan

    def std(self, metric: str) -> float:
        values = self.values(metric)
        return statistics.stdev(values) if len(values) > 1 else math.nan


@dataclass
class Summary:
    exercise: Exercise
    options: list[Option]
    searched: list[str]  # the grid's parameters besides the seed repeat
    repeats: int  # seeds per option the grid asks for
    settings: dict[str, Any]  # config values shared by every run
    data: dict[str, Any]  # the study's data definition
    duplicates: int = 0  # extra runs of an (option, seed) pair, left out

    def option(self, label: str) -> Option | None:
        return next((o for o in self.options if o.label == label), None)

    @property
    def missing(self) -> int:
        return sum(max(0, self.repeats - len(o.runs)) for o in self.options)


@dataclass(frozen=True)
class Verdict:
    outcome: str  # holds | fails | not shown | best | no clear best | no data
    text: str


def option_label(params: dict[str, Any], searched: list[str]) -> str:
    return " / ".join(_fmt(params[name]) for name in searched)


def _fmt(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _run(trial: FrozenTrial) -> Run | None:
    measured = record.Measurements.read(trial)
    seed = record.seed(trial)
    if trial.state == TrialState.COMPLETE and measured is not None and seed is not None:
        # In an exercise study the held-out split is the test rows (evaluate_on = "test").
        return Run(
            seed,
            measured.val_accuracy,
            measured.train_accuracy,
            measured.gap,
            False,
            measured.history,
        )
    history = record.history(trial)
    if (
        trial.state == TrialState.PRUNED
        and record.prune_reason(trial) == "diverged"
        and history.get("val_accuracy")
        and seed is not None
    ):
        # Stopped at a NaN loss: its weights are NaN from there on, so its test accuracy at
        # that epoch is what training on would have ended with.
        return Run(seed, history["val_accuracy"][-1], None, None, True, history)
    return None


def summarize(study: optuna.Study, exercise: Exercise) -> Summary:
    """Each option's runs, one per seed repeat (the first finished trial of a pair counts)."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    finished = [(t, run) for t in trials if (run := _run(t)) is not None]
    if not finished:
        raise ValueError(f"study {study.study_name!r} has no finished runs")
    distributions = finished[0][0].distributions
    grid = {
        name: list(d.choices)
        for name, d in distributions.items()
        if isinstance(d, CategoricalDistribution)
    }
    searched = [name for name in grid if name != REPEAT]
    combos = itertools.product(*(grid[name] for name in searched))
    points = [dict(zip(searched, values, strict=True)) for values in combos]
    options = [Option(option_label(params, searched), params) for params in points]
    by_label = {o.label: o for o in options}
    seen: set[tuple[str, Any]] = set()
    duplicates = 0
    for trial, run in finished:
        label = option_label(trial.params, searched)
        key = (label, trial.params.get(REPEAT))
        if key in seen or label not in by_label:
            duplicates += 1
            continue
        seen.add(key)
        by_label[label].runs.append(run)
    configs = [t.user_attrs.get("config", {}) for t, _ in finished]
    shared = {
        k: v
        for k, v in configs[0].items()
        if k not in searched and k != REPEAT and all(c.get(k) == v for c in configs)
    }
    return Summary(
        exercise,
        options,
        searched,
        len(grid.get(REPEAT, [None])),
        shared,
        dict(study.user_attrs.get("data", {})),
        duplicates,
    )


def welch_p(better: list[float], worse: list[float]) -> float:
    """One-sided Welch t-test p-value that `better` has the higher mean; nan under 2 runs each."""
    n1, n2 = len(better), len(worse)
    if n1 < 2 or n2 < 2:
        return math.nan
    mean1, mean2 = statistics.fmean(better), statistics.fmean(worse)
    sd1, sd2 = statistics.stdev(better), statistics.stdev(worse)
    if sd1 == sd2 == 0:  # no spread at all (e.g. every run stuck at one class): scipy gives nan
        return 0.0 if mean1 > mean2 else 1.0 if mean1 < mean2 else 0.5
    # From the summary statistics: scipy's ttest_ind computes the same test but warns of
    # "catastrophic cancellation" whenever one option's runs are all equal.
    return float(
        stats.ttest_ind_from_stats(
            mean1, sd1, n1, mean2, sd2, n2, equal_var=False, alternative="greater"
        ).pvalue
    )


def beats(a: Option, b: Option, metric: str) -> float:
    """p-value that option a is better than option b on the metric (direction-aware)."""
    sign = METRICS[metric][1]
    return welch_p([sign * v for v in a.values(metric)], [sign * v for v in b.values(metric)])


def judge(summary: Summary) -> Verdict:
    ex, metric = summary.exercise, summary.exercise.metric
    sign = METRICS[metric][1]
    measured = [o for o in summary.options if len(o.values(metric)) >= 2]
    if len(measured) < 2:
        return Verdict(
            "no data", "not enough runs to compare (at least 2 options with 2 runs each)"
        )
    best = max(measured, key=lambda o: sign * o.mean(metric))
    name = lambda o: ex.names.get(o.label, o.label)  # noqa: E731
    names = lambda opts: ", ".join(name(o) for o in opts)  # noqa: E731
    if ex.expected is None:
        ties = [o for o in measured if o is not best and not beats(best, o, metric) < ALPHA]
        if not ties:
            return Verdict(
                "best",
                f"{name(best)} is best, beyond noise (beats every other option, p < {ALPHA})",
            )
        return Verdict(
            "no clear best",
            f"{name(best)} has the best mean, but cannot be told apart from {names(ties)}",
        )
    answer = summary.option(ex.expected)
    if answer is None or answer not in measured:
        return Verdict("no data", f"the course's answer {ex.expected} has fewer than 2 runs")
    others = [o for o in measured if o is not answer]
    better = [o for o in others if beats(o, answer, metric) < ALPHA]
    ties = [o for o in others if o not in better and not beats(answer, o, metric) < ALPHA]
    if better:
        verb = "beats" if len(better) == 1 else "beat"
        return Verdict(
            "fails",
            f"the course's answer does not hold up: {names(better)} {verb} "
            f"{name(answer)} beyond noise",
        )
    if not ties:
        return Verdict(
            "holds",
            f"the course's answer holds: {name(answer)} beats every other option beyond noise",
        )
    lead = "" if best is answer else f"; {name(best)} has the better mean"
    return Verdict(
        "not shown",
        f"not shown: {name(answer)} cannot be told apart from {names(ties)} within noise{lead}",
    )
