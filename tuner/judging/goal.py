"""The goal's judging inside the workers: claim a candidate, judge it in two rounds, decide.

A study file's `[goal]` turns the search into "search until a config is confirmed". Workers
take two kinds of work from the same loop (tuner.execution.loop): search trials, and judging a
candidate (a complete trial feasible on validation, or within `gap_margin` of it). At most
`goal.judges` workers judge at once, so with several workers the search goes on beside the
judging. A candidate is retrained on the course's exact capstone split: first on the choosing
seeds, then, if it passes `choose_pass_rate` of them, on fresh confirming seeds. A confirmation
that passes `pass_rate` is the verdict, and every worker stops. Claims are made under the budget
lock (tuner.execution.budget), so this works the same across hosts sharing PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, replace

import optuna

from tuner.judging.candidates import candidates
from tuner.judging.judge import CapstoneRetrain, Judgement, Round, judge
from tuner.judging.records import (
    CHOOSING,
    CONFIRMED,
    CONFIRMING,
    DONE,
    INTERRUPTED,
    NOT_CHOSEN,
    NOT_CONFIRMED,
    OUT_OF_TIME,
    GoalState,
    JudgingRecord,
    RoundResult,
    Verdict,
)
from tuner.study import Constraints, Goal, StudySpec, record
from tuner.training.data import RawMnist


def goal_rounds(goal: Goal) -> list[Round]:
    """The goal's rule for one candidate: the choosing seeds, then fresh confirming seeds.
    Shared by the workers and by the benchmark's peers, so every arm meets one rule."""
    return [
        Round(
            CHOOSING,
            tuple(goal.choosing_seeds()),
            goal.choose_pass_rate,
            in_one_fit=goal.choose_in_one_fit,
        ),
        # Plain fits, one per seed: the verdict's figures reproduce in plain Keras.
        Round(CONFIRMING, tuple(goal.confirming_seeds()), goal.pass_rate),
    ]


def confirmed(judged: list[Judgement]) -> bool:
    """Whether a candidate judged by `goal_rounds` passed both rounds."""
    return len(judged) == 2 and all(j.robust for j in judged)


def search_constraints(spec: StudySpec, state: GoalState) -> Constraints:
    """The study's [constraints] with the gap window centred on the offset the judges have
    measured (GoalState.measured_offset), once they have judged enough seeds; the study file's
    gap_offset until then. So the window follows this study's own validation rows and the
    search's own optimism, not a constant measured once."""
    measured = state.measured_offset() if spec.goal is not None else None
    return spec.constraints if measured is None else replace(spec.constraints, gap_offset=measured)


def next_candidate(
    study: optuna.Study, spec: StudySpec, state: GoalState, now: float
) -> optuna.trial.FrozenTrial | None:
    """The best candidate nobody has judged or is judging, while judges and candidates are
    left; None otherwise. Called under the budget lock, then claimed with `claim`."""
    goal = spec.goal
    assert goal is not None
    if state.reached or len(state.active(now)) >= goal.judges:
        return None
    if len(state.finished()) >= goal.max_candidates:
        return None
    taken = state.taken(now)
    constraints = search_constraints(spec, state)
    ranked = candidates(study, constraints, gap_margin=goal.gap_margin, limit=10**6)
    return next((t for t in ranked if t.number not in taken), None)


def claim(study: optuna.Study, number: int, owner: str, planned: int) -> None:
    JudgingRecord(owner, CHOOSING, planned=planned).write(study, number)


def judge_candidate(
    study: optuna.Study,
    spec: StudySpec,
    trial: optuna.trial.FrozenTrial,
    raw: RawMnist,
    owner: str,
) -> bool:
    """Judge one claimed candidate: choose, then confirm on fresh seeds. True if confirmed."""
    goal = spec.goal
    config, number = record.config(trial), trial.number
    assert goal is not None and config is not None  # candidates have a config
    measured = record.Measurements.read(trial)
    search_gap = None
    if measured is not None:
        search_gap = measured.gap if measured.worst_gap is None else measured.worst_gap
    rec = JudgingRecord(owner, CHOOSING, search_gap=search_gap)

    def stop_now() -> bool:
        return GoalState.read(study).expired(time.time())

    def start(round_: Round) -> None:
        rec.phase, rec.done, rec.planned = round_.name, 0, len(round_.seeds)
        rec.write(study, number)

    def progress(round_: Round, j: Judgement) -> None:
        rec.done = len(j.runs)
        _keep(rec, round_, j)
        rec.write(study, number)

    try:
        judged = judge(
            config,
            goal_rounds(goal),
            run_seeds=CapstoneRetrain(
                config,
                raw,
                spec.capstone,
                curves=False,
                # Each seed's model on the search's validation rows too: the offset.
                validation_rows=spec.data.validation_rows,
                # A fit still running when the job's time is up is cut off, not waited for.
                deadline=GoalState.read(study).deadline,
            ),
            label=f"trial {number}",
            trial_number=number,
            on_round=start,
            on_seed=progress,
            should_stop=stop_now,
        )
    except KeyboardInterrupt:
        # Stopped by the user: not judged, so a later launch takes the candidate up again.
        rec.phase = INTERRUPTED
        rec.write(study, number)
        raise
    for round_, j in zip(goal_rounds(goal), judged, strict=False):
        _keep(rec, round_, j)
    if any(j.out_of_time for j in judged):
        # Not judged to the end: a later launch (with a new deadline) takes it up again.
        rec.phase = rec.outcome = OUT_OF_TIME
    elif len(judged) < 2:
        rec.phase, rec.outcome = DONE, NOT_CHOSEN
    else:
        rec.phase, rec.outcome = DONE, CONFIRMED if confirmed(judged) else NOT_CONFIRMED
    rec.write(study, number)
    if rec.outcome != CONFIRMED:
        return False
    assert rec.choose is not None and rec.confirm is not None
    from tuner.training.backend import intra_op_threads  # Keras: only where a judge runs

    Verdict(
        trial=number,
        config=config,
        choose=rec.choose,
        confirm=rec.confirm,
        threads=intra_op_threads(),
        goal=asdict(goal),
        confirmed_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    ).write(study)
    return True


def _keep(rec: JudgingRecord, round_: Round, j: Judgement) -> None:
    """Store a round's result so far under its name in the record."""
    if round_.name == CHOOSING:
        rec.choose = RoundResult.of(j)
    else:
        rec.confirm = RoundResult.of(j)
