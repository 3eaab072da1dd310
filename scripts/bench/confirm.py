"""What every arm shares: the clock, the pass check and the result an arm reports.

An arm stops at its first config that passes the capstone rules: the validation stand-in
during the search (the study's [constraints], the same check for every arm), then a retrain on
the capstone split judged by tuner.results.report.judge (one seed: the trial's own). The time
counted is the arm's process's whole wall time (imports, data, search, confirming retrains).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

STUDY = "mnist_mlp"
START = time.perf_counter()
# Smoke test of the stop path only: every trial counts as passing (never for figures).
SMOKE = os.environ.get("BENCH_SMOKE_ACCEPT") == "1"


def elapsed() -> float:
    """Seconds since this process started (the arm's clock)."""
    return time.perf_counter() - START


@dataclass(frozen=True)
class ArmRun:
    """One (arm, seed) run, as the scheduler asks for it."""

    seed: int
    budget_seconds: float
    data_path: str | None
    workers: int  # the product's workers; the peers run one trial at a time


class Confirmer:
    """Stand-in check, then the capstone retrain; remembers the first config that passed."""

    def __init__(self, data_path: str | None) -> None:
        from tuner.study import load_study_spec
        from tuner.training.data import load_mnist, load_study_data

        self.spec = load_study_spec(STUDY)
        self.data = load_study_data(self.spec, data_path)
        self.raw = load_mnist(data_path)
        self.retrains: list[dict[str, Any]] = []
        self.found: dict[str, Any] = {}

    def stand_in(self, *, val_accuracy: float, gap: float) -> bool:
        return SMOKE or self.spec.constraints.margin(val_accuracy, gap) >= 0

    def capstone(self, config: dict[str, Any], *, seed: int, label: str) -> bool:
        from tuner.results.report import judge

        verdict = judge(
            config,
            label=label,
            trial_number=None,
            raw=self.raw,
            seeds=[seed],
            rules=self.spec.capstone,
            threshold=1.0,
        )
        run = verdict.runs[0]
        self.retrains.append(
            {
                "label": label,
                "test_accuracy": run.test_accuracy,
                "train_accuracy": run.train_accuracy,
                "passed": run.passed,
                "at_seconds": round(elapsed(), 1),
            }
        )
        return verdict.robust or SMOKE

    def accept(self, config: dict[str, Any], *, trial: int, val_accuracy: float) -> None:
        self.found = {"trial": trial, "config": config, "val_accuracy": val_accuracy}

    def passes(
        self, config: dict[str, Any], *, trial: int, seed: int, val_accuracy: float, gap: float
    ) -> bool:
        """A peer's trial: the stand-in, then (only if it holds) the capstone retrain."""
        if not self.stand_in(val_accuracy=val_accuracy, gap=gap):
            return False
        if not self.capstone(config, seed=seed, label=f"trial {trial}"):
            return False
        self.accept(config, trial=trial, val_accuracy=val_accuracy)
        return True


def arm_result(
    confirm: Confirmer | None, *, trials: int, epochs: int, seconds: float | None = None
) -> dict[str, Any]:
    """What a run reports to the scheduler (a JSON line); `seconds` defaults to now."""
    found = confirm.found if confirm else {}
    return {
        "passed": bool(found),
        "seconds": round(elapsed() if seconds is None else seconds, 1),
        "trials": trials,
        "epochs": epochs,
        "found": found,
        "retrains": confirm.retrains if confirm else [],
    }
