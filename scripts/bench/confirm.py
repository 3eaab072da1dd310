"""What every search arm shares: the clock, the goal's rule for a pass, and the result it reports.

An arm passes once a config is confirmed on fresh capstone seeds, by the rule the product's own
workers use (tuner.judging.goal.goal_rounds with mnist_mlp's [goal], judged by
tuner.judging.judge.judge): retrained on the choosing seeds at `choose_pass_rate`, then, if
chosen, on the confirming seeds at `pass_rate`, each round stopping early once its threshold is
out of reach. A peer judges each trial that passes the validation stand-in (the study's
[constraints]); the product's workers judge their own candidates. A confirmation counts only
within the budget; the time counted is the wall time at confirmation.

BENCH_SMOKE_ACCEPT=1 (a smoke test of the stop path, never for figures): every trial passes the
stand-in and the goal shrinks to one choosing and one confirming seed at a pass rate of 0, so
the first trial is judged for real (two retrains) and confirmed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.judging import RoundResult
    from tuner.study import Goal

STUDY = "mnist_mlp"
START = time.perf_counter()
SMOKE = os.environ.get("BENCH_SMOKE_ACCEPT") == "1"
# The goal under BENCH_SMOKE_ACCEPT=1 (the study's [goal] otherwise).
SMOKE_GOAL: dict[str, Any] = dict(choose_seeds=1, choose_pass_rate=0.0, confirm_seeds=1)
SMOKE_GOAL["pass_rate"] = 0.0


def elapsed() -> float:
    """Seconds since this process started (a peer's clock)."""
    return time.perf_counter() - START


def bench_goal(goal: Goal | None) -> Goal:
    """The goal every arm meets: the study's [goal], or the smoke goal."""
    from tuner.study import Goal

    goal = goal or Goal()
    return dataclasses.replace(goal, **SMOKE_GOAL) if SMOKE else goal


@dataclass(frozen=True)
class ArmRun:
    """One (arm, seed) run, as the scheduler asks for it."""

    seed: int
    budget_seconds: float
    data_path: str | None
    workers: int  # the product's workers; the peers run one trial at a time


def counts(result: RoundResult | None) -> str:
    """'9/10' for a round; '2/4, stopped' when it stopped early; '-' when it never started."""
    if result is None:
        return "-"
    return f"{result.passes}/{result.seeds}" + (", stopped" if result.stopped_early else "")


def found_config(
    trial: int, config: dict[str, Any], seconds: float, confirm: RoundResult
) -> dict[str, Any]:
    """A confirmed config as a run reports it: its trial, its time, its confirming round."""
    return {
        "trial": trial,
        "config": config,
        "seconds": round(seconds, 1),
        "pass_rate": confirm.pass_rate,
        "passes": confirm.passes,
        "seeds": confirm.seeds,
        "wilson_95": [round(x, 3) for x in confirm.wilson_95],
    }


class Confirmer:
    """A peer's judge: the stand-in, then the goal's rule; remembers the first confirmed config."""

    def __init__(self, run: ArmRun) -> None:
        from tuner.judging.goal import goal_rounds
        from tuner.study import load_study_spec
        from tuner.training.data import load_mnist, load_study_data

        self.run = run
        self.spec = load_study_spec(STUDY)
        self.rounds = goal_rounds(bench_goal(self.spec.goal))
        self.data = load_study_data(self.spec, run.data_path)
        self.raw = load_mnist(run.data_path)
        self.judged: list[dict[str, Any]] = []  # one line per candidate judged
        self.found: dict[str, Any] = {}

    def passes(
        self, config: dict[str, Any], *, trial: int, val_accuracy: float, gap: float
    ) -> bool:
        """A peer's trial: the stand-in, then (only if it holds) the goal's rule. True (and
        remembered) if confirmed within the budget."""
        if not (SMOKE or self.spec.constraints.margin(val_accuracy, gap) >= 0):
            return False
        from tuner.judging import RoundResult, judge
        from tuner.judging.goal import confirmed
        from tuner.judging.judge import CapstoneRetrain

        judged = judge(
            config,
            self.rounds,
            # The product's judges store no curves either.
            run_seeds=CapstoneRetrain(config, self.raw, self.spec.capstone, curves=False),
            label=f"trial {trial}",
            trial_number=trial,
            should_stop=lambda: elapsed() > self.run.budget_seconds,
        )
        seconds = elapsed()
        rounds = [RoundResult.of(j) for j in judged]
        line: dict[str, Any] = {"trial": trial, "choose": counts(rounds[0])}
        if len(rounds) > 1:
            line["confirm"] = counts(rounds[1])
        self.judged.append({**line, "at_seconds": round(seconds)})
        if not confirmed(judged) or seconds > self.run.budget_seconds:
            return False
        self.found = found_config(trial, config, seconds, rounds[1])
        return True


def arm_result(
    config: dict[str, Any], *, seconds: float, trials: int, epochs: int, judged: list[Any]
) -> dict[str, Any]:
    """What a run reports to the scheduler (a JSON line): confirmed when `config` (found_config)
    is set, with its time; otherwise censored at `seconds`, the run's end."""
    seconds = round(config["seconds"] if config else seconds, 1)
    result = dict(passed=bool(config), seconds=seconds, trials=trials, epochs=epochs)
    return {**result, "pass_rate": config.get("pass_rate"), "found": config, "judged": judged}


def peer_result(confirm: Confirmer, *, trials: int, epochs: int) -> dict[str, Any]:
    return arm_result(
        confirm.found, seconds=elapsed(), trials=trials, epochs=epochs, judged=confirm.judged
    )
