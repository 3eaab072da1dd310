"""The one judging loop: retrain a config once per seed on the capstone split, in rounds.

A round is a list of seeds and the share of them a config must pass. `judge` runs the rounds in
turn, gives up on a round as soon as its failures make that share unreachable, and starts the
next round only when this one passed. The goal judges a candidate in two rounds (choose, then
confirm on fresh seeds); the reporter in one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tuner.judging.rules import RULES, check_rules, data_definitions_unchanged, wilson_interval
from tuner.study import Capstone
from tuner.training.data import RawMnist, Split, capstone_test, capstone_train, validation_split


@dataclass(frozen=True)
class Round:
    """Seeds to retrain on and the share of them that must pass."""

    name: str  # how progress and records name it: "choosing", "confirming", "judging"
    seeds: tuple[int, ...]
    pass_rate: float
    # All seeds trained together in one fit (tuner.training.replicas) instead of one fit per
    # seed: far cheaper, but a round in one fit cannot stop early.
    in_one_fit: bool = False

    def allowed_failures(self) -> int:
        return len(self.seeds) - math.ceil(self.pass_rate * len(self.seeds) - 1e-9)


@dataclass
class SeedRun:
    seed: int
    test_accuracy: float
    train_accuracy: float  # evaluated on X_train after training (dropout off)
    epoch_log_accuracy: float  # Keras' running accuracy of the last epoch, dropout on
    gap: float  # train_accuracy - test_accuracy
    epochs: int
    rules: dict[str, bool]
    history: dict[str, list[float]] = field(repr=False)
    # The same model on the search's validation rows, when the judge was given them: test minus
    # this is the validation-to-test offset the search's gap window stands on.
    val_accuracy: float | None = None

    @property
    def passed(self) -> bool:
        return all(self.rules.values())


@dataclass
class Judgement:
    """One round's outcome for one config."""

    label: str
    config: dict[str, Any]
    trial_number: int | None
    runs: list[SeedRun]
    threshold: float
    planned_seeds: int
    out_of_time: bool = False  # stopped by the job's deadline before its seeds were run

    @property
    def passes(self) -> int:
        return sum(run.passed for run in self.runs)

    @property
    def pass_rate(self) -> float:
        # No seed run (the job's time ran out first): nothing passed, nothing is known.
        return self.passes / len(self.runs) if self.runs else 0.0

    @property
    def stopped_early(self) -> bool:
        return len(self.runs) < self.planned_seeds

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.passes, len(self.runs)) if self.runs else (0.0, 1.0)

    @property
    def robust(self) -> bool:
        return not self.stopped_early and self.pass_rate >= self.threshold

    def rules_passed(self) -> dict[str, int]:
        return {rule: sum(r.rules[rule] for r in self.runs) for rule in RULES}

    def summary(self) -> dict[str, Any]:
        """Everything, curves included, as the reporter's report.json holds it."""
        return {
            "label": self.label,
            "trial_number": self.trial_number,
            "config": self.config,
            "pass_rate": self.pass_rate,
            "passes": self.passes,
            "seeds": len(self.runs),
            "wilson_95": list(self.interval),
            "robust": self.robust,
            "stopped_early": self.stopped_early,
            "rules_passed": self.rules_passed(),
            "runs": [{**asdict(r), "passed": r.passed} for r in self.runs],
        }


def accuracy(model: Any, split: Split) -> float:
    """Exact share of correct rows (k/n), so the rule boundaries are exact."""
    predicted = model.predict(split.x, batch_size=2048, verbose=0).argmax(axis=1)
    return float((predicted == split.y.argmax(axis=1)).sum()) / len(split)


class OutOfTime(Exception):
    """A seed runner's fit was cut off by the job's deadline: the seeds are not judged."""


class SeedRunner(Protocol):
    """Retrains one config on the given seeds and checks the rules: one seed by itself in a
    plain fit, several together in one fit. Raises OutOfTime if a deadline cuts a fit off."""

    def __call__(self, seeds: Sequence[int]) -> list[SeedRun]: ...


def judge(
    config: dict[str, Any],
    rounds: Sequence[Round],
    *,
    run_seeds: SeedRunner,
    label: str,
    trial_number: int | None,
    on_round: Callable[[Round], None] | None = None,
    on_seed: Callable[[Round, Judgement], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stop_early: bool = True,
) -> list[Judgement]:
    """Judge `config` round by round; returns one Judgement per round started.

    A round stops early once its failures make its pass rate unreachable (unless not
    `stop_early`: a baseline's full table); the next round starts only after a robust one.
    on_round(r) is called as a round starts, on_seed(r, j) after each fit, should_stop()
    before each fit (a job's time budget); a round stopped by it, or by a fit the deadline cut
    off, is marked out_of_time and the judging ends there.
    """
    judged: list[Judgement] = []
    for round_ in rounds:
        if on_round is not None:
            on_round(round_)
        j = Judgement(label, config, trial_number, [], round_.pass_rate, len(round_.seeds))
        judged.append(j)
        step = len(round_.seeds) if round_.in_one_fit else 1
        for start in range(0, len(round_.seeds), step):
            failures = len(j.runs) - j.passes
            if stop_early and failures > round_.allowed_failures():
                print(
                    f"  {label}: {failures} failures, it can no longer reach the "
                    f"{round_.pass_rate:.0%} of {round_.name}",
                    flush=True,
                )
                break
            try:
                if should_stop is not None and should_stop():
                    raise OutOfTime
                runs = run_seeds(round_.seeds[start : start + step])
            except OutOfTime:
                print(f"  {label}: stopped after {len(j.runs)} seeds (out of time)", flush=True)
                j.out_of_time = True
                return judged
            for run in runs:
                j.runs.append(run)
                print(
                    f"  {label} seed {run.seed}: test {run.test_accuracy:.4f} train "
                    f"{run.train_accuracy:.4f} gap {run.gap:+.4f} "
                    f"{'PASS' if run.passed else 'fail'}",
                    flush=True,
                )
            if on_seed is not None:
                on_seed(round_, j)
        if not j.robust:
            break
    return judged


class CapstoneRetrain:
    """Retrains a config on the course's capstone split and checks every rule: one seed in a
    plain fit; several seeds together in one fit (tuner.training.replicas), seeded by the
    first. The model is reset and reused from fit to fit: no tracing per seed.

    curves=False skips the per-epoch test and train accuracy the learning curves plot: every
    seed's final figures are the same (evaluation draws no random numbers), and each epoch
    measures 16,000 rows fewer. Curves are drawn for plain fits only. With `validation_rows`
    (the search's [start, stop) of x_train) each seed's model is measured there too. With a
    `deadline` (epoch seconds) a fit still running then is cut off: OutOfTime.
    """

    def __init__(
        self,
        config: dict[str, Any],
        raw: RawMnist,
        rules: Capstone,
        *,
        curves: bool = True,
        validation_rows: tuple[int, int] | None = None,
        deadline: float | None = None,
    ) -> None:
        self.config, self.rules, self.curves, self.deadline = config, rules, curves, deadline
        self.validation = validation_split(raw, *validation_rows) if validation_rows else None
        self.train, self.test = capstone_train(raw), capstone_test(raw)
        self.unchanged = data_definitions_unchanged(self.train, self.test, raw)
        self.model: Any = None
        self.model_replicas = 0  # how many replicas self.model holds

    def __call__(self, seeds: Sequence[int]) -> list[SeedRun]:
        if len(seeds) == 1:
            return [self._run(seeds[0])]
        return self._run_together(seeds)

    def _fit(
        self, seed: int, replicas: int, validation: Split | None = None, callbacks: Sequence = ()
    ) -> dict[str, Any]:
        """One fit of `replicas` seeds, reusing the last model of that shape; OutOfTime when the
        deadline cuts it off."""
        from tuner.training.callbacks import StopAtDeadline
        from tuner.training.objective import fit_and_measure

        stop = [StopAtDeadline(self.deadline)] if self.deadline is not None else []
        result = fit_and_measure(
            self.config,
            self.train,
            validation,
            seed=seed,
            callbacks=[*callbacks, *stop],
            reuse=self.model if self.model_replicas == replicas else None,
            replicas=replicas,
        )
        self.model, self.model_replicas = result["model"], replicas
        if stop and stop[0].fired:
            raise OutOfTime
        return result

    def _run_together(self, seeds: Sequence[int]) -> list[SeedRun]:
        from tuner.training.replicas import per_replica_accuracy

        k = len(seeds)
        result = self._fit(seeds[0], k)
        test = per_replica_accuracy(self.model, self.test.x, self.test.y)
        train = per_replica_accuracy(self.model, self.train.x, self.train.y)
        val: list[float | None] = [None] * k
        if self.validation is not None:
            val = [float(v) for v in per_replica_accuracy(self.model, *self._validation_xy())]
        last_epoch = result["history"]["accuracy"][-1]  # the mean over the replicas
        return [
            self._seed_run(seed, float(test_acc), float(train_acc), last_epoch, {}, val_acc)
            for seed, test_acc, train_acc, val_acc in zip(seeds, test, train, val, strict=True)
        ]

    def _validation_xy(self) -> tuple[Any, Any]:
        assert self.validation is not None
        return self.validation.x, self.validation.y

    def _seed_run(
        self,
        seed: int,
        test_acc: float,
        train_acc: float,
        last_epoch: float,
        history: dict[str, list[float]],
        val_acc: float | None = None,
    ) -> SeedRun:
        verdict = check_rules(
            test_accuracy=test_acc,
            train_accuracy=train_acc,
            epochs=self.config["epochs"],
            data_unchanged=self.unchanged,
            rules=self.rules,
        )
        epochs = self.config["epochs"]
        gap = train_acc - test_acc
        return SeedRun(
            seed, test_acc, train_acc, last_epoch, gap, epochs, verdict, history, val_acc
        )

    def _run(self, seed: int) -> SeedRun:
        from tuner.training.callbacks import TrainAccuracy

        train, test = self.train, self.test
        # The course plots accuracy and val_accuracy with the test set as validation data; the
        # train accuracy the gap rule uses (dropout off) is recorded per epoch beside them.
        if self.curves:
            result = self._fit(seed, 1, test, [TrainAccuracy(train, rows=len(train))])
        else:
            result = self._fit(seed, 1)
        test_acc, train_acc = accuracy(self.model, test), accuracy(self.model, train)
        val_acc = accuracy(self.model, self.validation) if self.validation is not None else None
        history = result["history"]
        return self._seed_run(seed, test_acc, train_acc, history["accuracy"][-1], history, val_acc)
