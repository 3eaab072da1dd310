"""This product: `python -m tuner.launch --study <mnist_mlp variant> --workers N` on a fresh SQLite
file, its own goal-driven job. The variant seeds the sampler with SEED, drops the study's
`[[warm_start]]` configs (every arm starts from nothing), lifts n_trials out of the way and sets
[goal] max_minutes to the budget. The arm reads the verdict (GoalState) once the launcher exits,
or stops it when the budget ends; its time runs from the launch to the verdict's `confirmed_at`.
It also reports `trial_over_fit`: the search trials' wall time (storage start to complete) over
their training phases (their `timings`), what a trial costs beyond a plain Keras fit.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from scripts.bench.confirm import SMOKE, SMOKE_GOAL, STUDY, ArmRun, arm_result, counts, found_config
from scripts.bench.doc import python_path
from scripts.bench.variants import write_variant
from tuner.execution.storage import open_storage
from tuner.judging import GoalState
from tuner.study import record

POLL_SECONDS = 2
# Under BENCH_SMOKE_ACCEPT=1 every complete trial is feasible, so the first one is a candidate.
SMOKE_CONSTRAINTS = {"min_val_accuracy": 0.0, "max_gap": 1.0}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
CLAIM_PHASES = ("claim", "claim_wait")  # before the trial starts in the storage


def run(arm: str, run: ArmRun) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="bench_product_"))
    name = f"bench_{STUDY}_s{run.seed}"
    study_file = work / f"{name}.toml"
    goal: dict[str, Any] = {"max_minutes": run.budget_seconds / 60, **(SMOKE_GOAL if SMOKE else {})}
    overrides: dict[str, Any] = {
        "name": name,
        "n_trials": 10_000,  # the budget in minutes ends the job first
        "sampler": {"seed": run.seed},
        "goal": goal,
        "warm_start": None,  # no hand-found config: the peers have none either
    }
    if SMOKE:
        overrides["constraints"] = SMOKE_CONSTRAINTS
    write_variant(STUDY, overrides, study_file)
    url = f"sqlite:///{work / 'optuna.db'}"
    cmd = [sys.executable, "-m", "tuner.launch", "--study", str(study_file), "--storage", url]
    cmd += ["--workers", str(run.workers)]
    if run.data_path:
        cmd += ["--data", run.data_path]
    with (work / "launch.log").open("w") as log:  # the launcher keeps its own copy open
        started = time.time()
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env={**os.environ, "PYTHONPATH": python_path()},
            stdout=log,
            stderr=log,
            start_new_session=True,
            # A shell's background job ignores SIGINT, and its children would
            # inherit that: give the launcher back its Ctrl-C.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        while proc.poll() is None and time.time() - started < run.budget_seconds:
            time.sleep(POLL_SECONDS)
    finally:
        _stop(proc)
    ended = time.time() - started
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    state = GoalState.read(study)
    confirmed: dict[str, Any] = {}
    if state.verdict is not None:
        v = state.verdict
        at = dt.datetime.fromisoformat(v.confirmed_at).timestamp() - started
        confirmed = found_config(v.trial, v.config, at, v.confirm)
    judged = [
        {
            "trial": n,
            "choose": counts(r.choose),
            "confirm": counts(r.confirm),
            # how the judging ended, or where it was when the launcher stopped
            "outcome": r.outcome or f"{r.phase} after {r.done}/{r.planned}",
            "at_seconds": round(r.updated - started),
        }
        for n, r in sorted(state.judging.items())
    ]
    trials = study.get_trials(deepcopy=False)
    in_time = confirmed if confirmed and confirmed["seconds"] <= run.budget_seconds else {}
    result = arm_result(
        in_time,
        seconds=ended,
        trials=sum(_started(t) for t in trials),
        epochs=sum(len(t.intermediate_values) for t in trials),
        judged=judged,
    )
    result["pruned"] = sum(t.state == TrialState.PRUNED for t in trials)
    result["trial_over_fit"] = _trial_over_fit(trials)
    result["launch_rc"] = proc.returncode
    if confirmed and not in_time:
        result["verdict_after_budget"] = confirmed
    return result


def _started(trial: FrozenTrial) -> bool:
    """A trial the workers ran: not one still waiting, nor the re-run of a failed one."""
    return trial.state != TrialState.WAITING and "failed_trial" not in trial.system_attrs


def _trial_over_fit(trials: list[FrozenTrial]) -> float | None:
    """Finished trials' wall time over their training phases; None without any."""
    wall = fit = 0.0
    for t in trials:
        phases = record.timings(t)
        if t.state in FINISHED and t.datetime_start and t.datetime_complete and phases:
            wall += (t.datetime_complete - t.datetime_start).total_seconds()
            fit += sum(s for phase, s in phases.items() if phase not in CLAIM_PHASES)
    return round(wall / fit, 3) if fit else None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the launcher's process group (workers finish their trial), then kill if stuck."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
