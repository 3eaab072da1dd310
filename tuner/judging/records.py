"""What judging stores on a study, as typed records; the one module that names those keys.

The goal's state lives in study user attributes, so workers on several hosts sharing one
database see the same judging:
    goal_deadline          when the job's `max_minutes` run out (epoch seconds), set at launch
    goal_judging_<n>       trial n's judging (JudgingRecord): owner, phase, progress, its rounds
    goal_verdict           the confirmed trial (Verdict), set once
Everything else reads and writes them through the classes here. The stored shapes are plain
JSON, with the keys that existing databases already hold.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna

from tuner.judging.judge import Judgement

DEADLINE_KEY = "goal_deadline"
VERDICT_KEY = "goal_verdict"
JUDGING_PREFIX = "goal_judging_"
# The judging phases, as records and the progress line name them; a record's phase ends as one
# of the last three.
CHOOSING, CONFIRMING = "choosing", "confirming"
DONE, INTERRUPTED, OUT_OF_TIME = "done", "interrupted", "out of time"
# How a finished judging ended (JudgingRecord.outcome).
CONFIRMED, NOT_CONFIRMED, NOT_CHOSEN = "confirmed", "not confirmed", "not chosen"
# A judging claim not updated for this long belongs to a dead worker and is taken again: many
# times the longest one seed's retrain takes, even on a loaded machine.
STALE_SECONDS = 600
# Judged seeds before their measured offset replaces the study file's gap_offset: one choosing
# round's worth.
MIN_OFFSET_SEEDS = 10


@dataclass(frozen=True)
class SeedResult:
    """One seed's retrain as stored (no curves)."""

    seed: int
    test_accuracy: float
    train_accuracy: float
    gap: float
    rules: dict[str, bool]
    passed: bool
    val_accuracy: float | None = None  # the same model on the search's validation rows


@dataclass(frozen=True)
class RoundResult:
    """One round of seeds as stored: counts, the Wilson interval, one row per seed."""

    trial_number: int | None
    pass_rate: float
    passes: int
    seeds: int  # seeds run (fewer than planned when stopped early)
    wilson_95: tuple[float, float]
    robust: bool
    stopped_early: bool
    rules_passed: dict[str, int]
    runs: tuple[SeedResult, ...]

    @classmethod
    def of(cls, j: Judgement) -> RoundResult:
        return cls(
            trial_number=j.trial_number,
            pass_rate=j.pass_rate,
            passes=j.passes,
            seeds=len(j.runs),
            wilson_95=j.interval,
            robust=j.robust,
            stopped_early=j.stopped_early,
            rules_passed=j.rules_passed(),
            runs=tuple(
                SeedResult(
                    r.seed,
                    r.test_accuracy,
                    r.train_accuracy,
                    r.gap,
                    r.rules,
                    r.passed,
                    r.val_accuracy,
                )
                for r in j.runs
            ),
        )

    @property
    def seed_list(self) -> list[int]:
        return [r.seed for r in self.runs]

    def describe(self) -> str:
        """`9/10 seeds, Wilson 95% [0.60, 0.98]`."""
        lo, hi = self.wilson_95
        early = " (stopped early)" if self.stopped_early else ""
        return f"{self.passes}/{self.seeds} seeds{early}, Wilson 95% [{lo:.2f}, {hi:.2f}]"

    def to_json(self) -> dict[str, Any]:
        stored = asdict(self)
        stored["wilson_95"] = list(self.wilson_95)
        stored["runs"] = [asdict(r) for r in self.runs]
        return stored

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> RoundResult:
        lo, hi = stored["wilson_95"]
        return cls(
            trial_number=stored.get("trial_number"),
            pass_rate=stored["pass_rate"],
            passes=stored["passes"],
            seeds=stored["seeds"],
            wilson_95=(lo, hi),
            robust=stored["robust"],
            stopped_early=stored["stopped_early"],
            rules_passed=stored["rules_passed"],
            runs=tuple(SeedResult(**r) for r in stored["runs"]),
        )


@dataclass
class JudgingRecord:
    """One candidate's judging: who judges it, how far it got, and its rounds' results."""

    owner: str
    phase: str  # CHOOSING or CONFIRMING while under way; then DONE, INTERRUPTED or OUT_OF_TIME
    done: int = 0  # seeds of the current round run so far
    planned: int = 0  # seeds the current round plans
    updated: float = field(default_factory=time.time)
    outcome: str | None = None  # CONFIRMED, NOT_CONFIRMED, NOT_CHOSEN or OUT_OF_TIME
    choose: RoundResult | None = None
    confirm: RoundResult | None = None
    # The candidate's validation gap as its search trial measured it (its worst seed's).
    search_gap: float | None = None

    def live(self, now: float) -> bool:
        return now - self.updated < STALE_SECONDS

    def gap_offsets(self) -> list[float]:
        """Per judged seed: the search's validation gap minus that seed's test gap, the
        validation gap that stood for a zero test gap on this candidate."""
        if self.search_gap is None:
            return []
        runs = [run for result in (self.choose, self.confirm) if result for run in result.runs]
        return [self.search_gap - run.gap for run in runs]

    @property
    def under_way(self) -> bool:
        return self.phase in (CHOOSING, CONFIRMING)

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "owner": self.owner,
            "phase": self.phase,
            "done": self.done,
            "planned": self.planned,
            "updated": self.updated,
        }
        if self.outcome is not None:
            stored["outcome"] = self.outcome
        if self.search_gap is not None:
            stored["search_gap"] = self.search_gap
        for key, result in (("choose", self.choose), ("confirm", self.confirm)):
            if result is not None:
                stored[key] = result.to_json()
        return stored

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> JudgingRecord:
        return cls(
            owner=stored.get("owner", "?"),
            phase=stored["phase"],
            done=stored.get("done", 0),
            planned=stored.get("planned", 0),
            updated=stored.get("updated", 0.0),
            outcome=stored.get("outcome"),
            search_gap=stored.get("search_gap"),
            choose=RoundResult.from_json(stored["choose"]) if "choose" in stored else None,
            confirm=RoundResult.from_json(stored["confirm"]) if "confirm" in stored else None,
        )

    def write(self, study: optuna.Study, number: int) -> None:
        """Store this record as trial `number`'s judging, stamped with the time now."""
        self.updated = time.time()
        study.set_user_attr(f"{JUDGING_PREFIX}{number}", self.to_json())


@dataclass(frozen=True)
class Verdict:
    """The confirmed config: its trial, its two rounds, and how its judge trained."""

    trial: int
    config: dict[str, Any]
    choose: RoundResult
    confirm: RoundResult
    threads: int | None  # the judge's threads per op; plain Keras needs the same to match
    goal: dict[str, Any] | None  # the study's [goal] table when it was confirmed
    confirmed_at: str  # ISO time, UTC

    @property
    def confirm_seeds(self) -> list[int]:
        return self.confirm.seed_list

    def headline(self) -> str:
        c = self.confirm
        lo, hi = c.wilson_95
        return (
            f"trial {self.trial} passes {c.passes}/{c.seeds} fresh capstone seeds "
            f"(pass rate {c.pass_rate:.2f}, Wilson 95% [{lo:.2f}, {hi:.2f}])"
        )

    def to_json(self) -> dict[str, Any]:
        """As stored; the confirming round's figures are repeated at the top for readers of the
        raw attribute (the dashboard)."""
        c = self.confirm
        return {
            "trial": self.trial,
            "verified": True,
            "config": self.config,
            "pass_rate": c.pass_rate,
            "passes": c.passes,
            "seeds": c.seeds,
            "wilson_95": list(c.wilson_95),
            "rules_passed": c.rules_passed,
            "confirm_seeds": self.confirm_seeds,
            "threads": self.threads,
            "choose": self.choose.to_json(),
            "confirm": c.to_json(),
            "goal": self.goal,
            "confirmed_at": self.confirmed_at,
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Verdict:
        return cls(
            trial=stored["trial"],
            config=stored["config"],
            choose=RoundResult.from_json(stored["choose"]),
            confirm=RoundResult.from_json(stored["confirm"]),
            threads=stored.get("threads"),
            goal=stored.get("goal"),
            confirmed_at=stored["confirmed_at"],
        )

    def write(self, study: optuna.Study) -> None:
        study.set_user_attr(VERDICT_KEY, self.to_json())


@dataclass
class GoalState:
    """The goal's state as one read of the study's user attributes sees it."""

    verdict: Verdict | None
    deadline: float | None
    judging: dict[int, JudgingRecord]  # trial number -> its judging

    @classmethod
    def read(cls, study: optuna.Study) -> GoalState:
        attrs = study.user_attrs
        judging = {
            int(key.removeprefix(JUDGING_PREFIX)): JudgingRecord.from_json(value)
            for key, value in attrs.items()
            if key.startswith(JUDGING_PREFIX)
        }
        stored = attrs.get(VERDICT_KEY)
        verdict = Verdict.from_json(stored) if stored is not None else None
        return cls(verdict, attrs.get(DEADLINE_KEY), judging)

    @property
    def reached(self) -> bool:
        return self.verdict is not None

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def active(self, now: float) -> dict[int, JudgingRecord]:
        """Judgings under way: not finished, interrupted, or abandoned by a dead worker."""
        return {n: r for n, r in self.judging.items() if r.under_way and r.live(now)}

    def finished(self) -> dict[int, JudgingRecord]:
        return {n: r for n, r in self.judging.items() if r.phase == DONE}

    def taken(self, now: float) -> set[int]:
        """Trials judged, or being judged by a live worker: not to be judged again."""
        return set(self.finished()) | set(self.active(now))

    def judged_offsets(self) -> list[float]:
        """Every judged seed's search validation gap minus test gap (gap_offsets), sorted."""
        return sorted(offset for rec in self.judging.values() for offset in rec.gap_offsets())

    def measured_offset(self, at_least: int = MIN_OFFSET_SEEDS) -> float | None:
        """The validation gap that stands for a zero test gap, as the judges measured it: the
        median over every judged seed of (its candidate's validation gap in the search - its
        test gap); None with fewer than `at_least` seeds. It holds both the validation rows'
        offset from the test set and the search's optimism: a config picked for a small gap on
        one seed shows a larger one on fresh seeds."""
        offsets = self.judged_offsets()
        if len(offsets) < max(1, at_least):
            return None
        middle = len(offsets) // 2
        return offsets[middle] if len(offsets) % 2 else (offsets[middle - 1] + offsets[middle]) / 2

    def verdict_for(self, trial_number: int) -> Verdict | None:
        """The verdict, if it is this trial's."""
        return self.verdict if self.verdict and self.verdict.trial == trial_number else None

    def in_order(self) -> list[tuple[int, JudgingRecord]]:
        """The judged candidates in the order their judging last moved."""
        return sorted(self.judging.items(), key=lambda item: item[1].updated)

    def phase_text(self, now: float) -> str:
        """For the progress line: what the judges are doing."""
        if self.verdict is not None:
            c = self.verdict.confirm
            return f"confirmed #{self.verdict.trial} {c.passes}/{c.seeds}"
        parts = [
            f"{r.phase} #{n} {r.done}/{r.planned}" for n, r in sorted(self.active(now).items())
        ]
        return ", ".join(parts) if parts else "search"


def set_deadline(study: optuna.Study, max_minutes: float) -> None:
    """Start the job's clock (each launch starts it anew); no limit when max_minutes is 0."""
    deadline = time.time() + max_minutes * 60 if max_minutes > 0 else None
    study.set_user_attr(DEADLINE_KEY, deadline)
