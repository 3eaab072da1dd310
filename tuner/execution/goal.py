"""Goal-driven runs: judge promising trials on the capstone split while the search goes on.

A study file's `[goal]` turns the search into "search until a config is confirmed". Workers
take two kinds of work from the same loop: search trials, and judging a candidate (a complete
trial feasible on validation, or within `gap_margin` of it). At most `goal.judges` workers
judge at once, so with several workers the search goes on beside the judging. Judging retrains
the candidate on the course's exact capstone split: first on the choosing seeds, then, if it
passes `choose_pass_rate` of them, on fresh confirming seeds. A confirmation that passes
`pass_rate` is the verdict, and every worker stops.

The state lives in study user attributes, written under the budget lock where two workers could
race, so it works the same for workers on several hosts sharing PostgreSQL:
    goal_deadline          when the job's `max_minutes` run out (epoch seconds), set at launch
    goal_judging_<n>       trial n's judging: owner, phase, progress, the two results
    goal_verdict           the confirmed trial, its pass rate and seeds; set once
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import optuna

if TYPE_CHECKING:
    from tuner.results.judge import Judgement
    from tuner.study import Goal, StudySpec
    from tuner.training.data import RawMnist

DEADLINE_KEY = "goal_deadline"
VERDICT_KEY = "goal_verdict"
JUDGING_PREFIX = "goal_judging_"
CHOOSING, CONFIRMING = "choosing", "confirming"  # the judging phases, as records name them
# A judging claim not updated for this long belongs to a dead worker and is taken again. One
# seed's retrain updates it; the slowest seen on a loaded 2-core machine took about 90 s.
STALE_SECONDS = 600


@dataclass
class GoalState:
    """The goal's state as one read of the study's user attributes sees it."""

    verdict: dict[str, Any] | None
    deadline: float | None
    judging: dict[int, dict[str, Any]]  # trial number -> its judging record

    @classmethod
    def read(cls, study: optuna.Study) -> GoalState:
        attrs = study.user_attrs
        judging = {
            int(key.removeprefix(JUDGING_PREFIX)): value
            for key, value in attrs.items()
            if key.startswith(JUDGING_PREFIX)
        }
        return cls(attrs.get(VERDICT_KEY), attrs.get(DEADLINE_KEY), judging)

    @property
    def reached(self) -> bool:
        return self.verdict is not None

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def live(self, record: dict[str, Any], now: float) -> bool:
        return now - record["updated"] < STALE_SECONDS

    def active(self, now: float) -> dict[int, dict[str, Any]]:
        """Judgings under way: not finished, interrupted, or abandoned by a dead worker."""
        return {
            n: r
            for n, r in self.judging.items()
            if r["phase"] in (CHOOSING, CONFIRMING) and self.live(r, now)
        }

    def taken(self, now: float) -> set[int]:
        """Trials judged, or being judged by a live worker: not to be judged again."""
        return {n for n, r in self.judging.items() if r["phase"] == "done"} | set(self.active(now))

    def phase_text(self, now: float) -> str:
        """For the progress line: what the judges are doing."""
        if self.verdict is not None:
            v = self.verdict
            return f"confirmed #{v['trial']} {v['passes']}/{v['seeds']}"
        parts = [
            f"{r['phase']} #{n} {r['done']}/{r['planned']}"
            for n, r in sorted(self.active(now).items())
        ]
        return ", ".join(parts) if parts else "search"


def set_deadline(study: optuna.Study, max_minutes: float) -> None:
    """Start the job's clock (each launch starts it anew); no limit when max_minutes is 0."""
    deadline = time.time() + max_minutes * 60 if max_minutes > 0 else None
    study.set_user_attr(DEADLINE_KEY, deadline)


def next_candidate(
    study: optuna.Study, spec: StudySpec, state: GoalState, now: float
) -> optuna.trial.FrozenTrial | None:
    """The best candidate nobody has judged or is judging, while judges and candidates are
    left; None otherwise. Called under the budget lock, then claimed with `claim`."""
    from tuner.results.judge import candidates

    goal = spec.goal
    assert goal is not None
    if state.reached or len(state.active(now)) >= goal.judges:
        return None
    if len([n for n, r in state.judging.items() if r["phase"] == "done"]) >= goal.max_candidates:
        return None
    taken = state.taken(now)
    ranked = candidates(study, spec.constraints, gap_margin=goal.gap_margin, limit=10**6)
    return next((t for t in ranked if t.number not in taken), None)


def claim(study: optuna.Study, number: int, owner: str, planned: int) -> None:
    _write(study, number, {"owner": owner, "phase": CHOOSING, "done": 0, "planned": planned})


def judge_candidate(
    study: optuna.Study,
    spec: StudySpec,
    trial: optuna.trial.FrozenTrial,
    raw: RawMnist,
    owner: str,
) -> bool:
    """Judge one claimed candidate: choose, then confirm on fresh seeds. True if confirmed."""
    from tuner.results.judge import judge
    from tuner.study import record as trial_record

    goal = spec.goal
    config, number = trial_record.config(trial), trial.number
    assert goal is not None and config is not None  # candidates have a config
    record: dict[str, Any] = {"owner": owner}
    out_of_time = False  # the job's time ran out before this judging could finish

    def stop_now() -> bool:
        nonlocal out_of_time
        out_of_time = GoalState.read(study).expired(time.time())
        return out_of_time

    def run(phase: str, seeds: list[int], threshold: float) -> Judgement:
        record.update(phase=phase, done=0, planned=len(seeds))
        _write(study, number, record)

        def progress(done: int) -> None:
            record["done"] = done
            _write(study, number, record)

        judgement = judge(
            config,
            label=f"trial {number}",
            trial_number=number,
            raw=raw,
            seeds=seeds,
            rules=spec.capstone,
            threshold=threshold,
            stop_early=True,
            on_seed=progress,
            should_stop=stop_now,
            curves=False,  # the judgement stores no curves
        )
        record["choose" if phase == CHOOSING else "confirm"] = result_of(judgement)
        return judgement

    try:
        chosen, confirmed = choose_then_confirm(goal, run)
    except KeyboardInterrupt:
        # Stopped by the user: not judged, so a later launch takes the candidate up again.
        record.update(phase="interrupted")
        _write(study, number, record)
        raise
    if out_of_time:
        # Not judged to the end: a later launch (with a new deadline) takes it up again.
        record.update(phase="out of time", outcome="out of time")
        _write(study, number, record)
        return False
    if confirmed is None:
        record.update(phase="done", outcome="not chosen")
        _write(study, number, record)
        return False
    record.update(phase="done", outcome="confirmed" if confirmed.robust else "not confirmed")
    _write(study, number, record)
    if not confirmed.robust:
        return False
    study.set_user_attr(VERDICT_KEY, verdict_of(spec, number, config, chosen, confirmed))
    return True


def choose_then_confirm(
    goal: Goal, judge_on: Callable[[str, list[int], float], Judgement]
) -> tuple[Judgement, Judgement | None]:
    """The goal's rule for one candidate, without a study: judge_on(phase, seeds, threshold) on
    the choosing seeds, then, only if chosen, on the fresh confirming seeds. Returns the choosing
    judgement and the confirming one (None when not chosen); confirmed when the latter is robust.
    Shared by the workers and by scripts/bench_search.py's peers, so every arm meets one rule.
    """
    chosen = judge_on(CHOOSING, goal.choosing_seeds(), goal.choose_pass_rate)
    if not chosen.robust:
        return chosen, None
    return chosen, judge_on(CONFIRMING, goal.confirming_seeds(), goal.pass_rate)


def result_of(j: Judgement) -> dict[str, Any]:
    """A judgement as stored on the study: counts and per-seed rows, no curves."""
    summary = j.summary()
    summary["runs"] = [
        {k: r[k] for k in ("seed", "test_accuracy", "train_accuracy", "gap", "rules", "passed")}
        for r in summary["runs"]
    ]
    del summary["config"], summary["label"]
    return summary


def verdict_of(
    spec: StudySpec,
    number: int,
    config: dict[str, Any],
    chosen: Judgement,
    confirmed: Judgement,
) -> dict[str, Any]:
    from tuner.training.backend import intra_op_threads

    confirm = result_of(confirmed)
    return {
        "trial": number,
        "verified": True,
        "config": config,
        "pass_rate": confirm["pass_rate"],
        "passes": confirm["passes"],
        "seeds": confirm["seeds"],
        "wilson_95": confirm["wilson_95"],
        "rules_passed": confirm["rules_passed"],
        "confirm_seeds": [r["seed"] for r in confirm["runs"]],
        "threads": intra_op_threads(),  # the judge's; plain Keras needs the same to match
        "choose": result_of(chosen),
        "confirm": confirm,
        "goal": asdict(spec.goal) if spec.goal else None,
        "confirmed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _write(study: optuna.Study, number: int, record: dict[str, Any]) -> None:
    study.set_user_attr(f"{JUDGING_PREFIX}{number}", {**record, "updated": time.time()})
