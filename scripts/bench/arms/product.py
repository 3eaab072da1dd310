"""This product: `python -m tuner.launch --study <mnist_mlp variant> --workers N` on a fresh SQLite
file, its own goal-driven job. The variant seeds the sampler with SEED, lifts n_trials out of the
way and sets [goal] max_minutes to the arm's budget; its workers search and judge candidates by
the goal's rule themselves. The arm reads `goal_verdict` from the storage once the launcher
exits, or stops the launcher when the budget ends. Its time is the launcher's wall time from
its start to `confirmed_at` (whole seconds).
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

import benchlib
import optuna
from optuna.trial import FrozenTrial, TrialState

from bench.confirm import SMOKE, SMOKE_GOAL, STUDY, ArmRun, arm_result, counts
from tuner.execution.goal import VERDICT_KEY, GoalState
from tuner.execution.storage import open_storage
from tuner.study.overrides import write_variant

POLL_SECONDS = 2
# Under BENCH_SMOKE_ACCEPT=1 every complete trial is feasible, so the first one is a candidate.
SMOKE_CONSTRAINTS = {"min_val_accuracy": 0.0, "max_gap": 1.0}


def run(run: ArmRun) -> dict[str, Any]:
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
            env={**os.environ, "PYTHONPATH": benchlib.python_path()},
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
    verdict = study.user_attrs.get(VERDICT_KEY)
    found: dict[str, Any] = {}
    if verdict is not None:
        at = dt.datetime.fromisoformat(verdict["confirmed_at"]).timestamp() - started
        found = {k: verdict[k] for k in ("trial", "config", "pass_rate", "passes", "seeds")}
        found.update(seconds=round(at, 1), wilson_95=[round(x, 3) for x in verdict["wilson_95"]])
    trials = study.get_trials(deepcopy=False)
    judged = [
        {
            "trial": n,
            **{k: counts(r[k]) for k in ("choose", "confirm") if k in r},
            # how the judging ended, or where it was when the launcher stopped
            "outcome": r.get("outcome") or f"{r['phase']} after {r['done']}/{r['planned']}",
            "at_seconds": round(r["updated"] - started),
        }
        for n, r in sorted(GoalState.read(study).judging.items())
    ]
    result = arm_result(
        found if found and found["seconds"] <= run.budget_seconds else {},
        seconds=ended,
        trials=sum(_started(t) for t in trials),
        epochs=sum(len(t.intermediate_values) for t in trials),
        judged=judged,
    )
    result["pruned"] = sum(t.state == TrialState.PRUNED for t in trials)
    result["launch_rc"] = proc.returncode
    if found and not result["passed"]:
        result["verdict_after_budget"] = found
    return result


def _started(trial: FrozenTrial) -> bool:
    """A trial the workers ran: not a warm start still waiting, nor the re-run of a failed one."""
    return trial.state != TrialState.WAITING and "failed_trial" not in trial.system_attrs


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
