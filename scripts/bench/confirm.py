"""What every arm shares: the clock, the goal's rule for a pass, and the result an arm reports.

An arm passes once a config is confirmed on fresh capstone seeds, by the rule the product's own
workers use (tuner.execution.goal.choose_then_confirm, with mnist_mlp's [goal]): judged on the
choosing seeds at `choose_pass_rate`, then, if chosen, on the confirming seeds at `pass_rate`,
each stopping early once the threshold is out of reach. A peer judges each trial that passes
the validation stand-in (the study's [constraints]); the product's workers judge their own
candidates. A confirmation counts only within the budget; the time counted is the wall time at
confirmation.

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
    from tuner.results.judge import Judgement
    from tuner.study import Goal

STUDY = "mnist_mlp"
START = time.perf_counter()
SMOKE = os.environ.get("BENCH_SMOKE_ACCEPT") == "1"
# The goal under BENCH_SMOKE_ACCEPT=1 (the study's [goal] otherwise).
SMOKE_GOAL: dict[str, Any] = {
    "choose_seeds": 1,
    "choose_pass_rate": 0.0,
    "confirm_seeds": 1,
    "pass_rate": 0.0,
}


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


class Confirmer:
    """A peer's judge: the stand-in, then the goal's rule; remembers the first confirmed config."""

    def __init__(self, run: ArmRun) -> None:
        from tuner.study import load_study_spec
        from tuner.training.data import load_mnist, load_study_data

        self.run = run
        self.spec = load_study_spec(STUDY)
        self.goal = bench_goal(self.spec.goal)
        self.data = load_study_data(self.spec, run.data_path)
        self.raw = load_mnist(run.data_path)
        self.judged: list[dict[str, Any]] = []  # one line per candidate judged
        self.found: dict[str, Any] = {}

    def stand_in(self, *, val_accuracy: float, gap: float) -> bool:
        return SMOKE or self.spec.constraints.margin(val_accuracy, gap) >= 0

    def confirmed(self, config: dict[str, Any], *, trial: int) -> bool:
        """Judge `config` by the goal's rule; True (and remembered) if confirmed in the budget."""
        from tuner.execution.goal import choose_then_confirm, result_of
        from tuner.results.judge import judge

        def judge_on(phase: str, seeds: list[int], threshold: float) -> Judgement:
            return judge(
                config,
                label=f"trial {trial} {phase}",
                trial_number=trial,
                raw=self.raw,
                seeds=seeds,
                rules=self.spec.capstone,
                threshold=threshold,
                stop_early=True,
                should_stop=lambda: elapsed() > self.run.budget_seconds,
                curves=False,  # the judgement stores no curves
            )

        chosen, confirmed = choose_then_confirm(self.goal, judge_on)
        seconds = elapsed()
        line = {"trial": trial, "choose": counts(result_of(chosen)), "at_seconds": round(seconds)}
        if confirmed is not None:
            line["confirm"] = counts(result_of(confirmed))
        self.judged.append(line)
        if confirmed is None or not confirmed.robust or seconds > self.run.budget_seconds:
            return False
        self.found = {
            "trial": trial,
            "config": config,
            "seconds": round(seconds, 1),
            "pass_rate": confirmed.pass_rate,
            "passes": confirmed.passes,
            "seeds": len(confirmed.runs),
            "wilson_95": [round(x, 3) for x in confirmed.interval],
        }
        return True

    def passes(
        self, config: dict[str, Any], *, trial: int, val_accuracy: float, gap: float
    ) -> bool:
        """A peer's trial: the stand-in, then (only if it holds) the goal's rule."""
        if not self.stand_in(val_accuracy=val_accuracy, gap=gap):
            return False
        return self.confirmed(config, trial=trial)


def counts(summary: dict[str, Any]) -> str:
    """'9/10' for a judgement as stored (tuner.execution.goal.result_of); '2/4, stopped' when it
    stopped early."""
    stopped = ", stopped" if summary["stopped_early"] else ""
    return f"{summary['passes']}/{summary['seeds']}{stopped}"


def arm_result(
    found: dict[str, Any],
    *,
    seconds: float,
    trials: int,
    epochs: int,
    judged: list[dict[str, Any]],
) -> dict[str, Any]:
    """What a run reports to the scheduler (a JSON line): confirmed when `found` is set, with its
    time; otherwise censored at `seconds`, the run's end."""
    return {
        "passed": bool(found),
        "seconds": round(found["seconds"] if found else seconds, 1),
        "trials": trials,
        "epochs": epochs,
        "pass_rate": found.get("pass_rate"),
        "found": found,
        "judged": judged,
    }


def peer_result(confirm: Confirmer, *, trials: int, epochs: int) -> dict[str, Any]:
    return arm_result(
        confirm.found, seconds=elapsed(), trials=trials, epochs=epochs, judged=confirm.judged
    )
