"""A worker's claims in a race, for tests/test_faults.py: run in a process of its own (spawned,
so this module imports only what a worker's claim needs)."""

from __future__ import annotations

import contextlib
import threading

import optuna

from tuner.execution import loop
from tuner.execution.budget import BudgetLock
from tuner.execution.storage import open_storage
from tuner.study import load_study_spec


def claim_in_race(url: str, study_file: str, ready, meet) -> None:
    """One worker process's claims, through the real _claim_work and BudgetLock, each trial told
    complete at once, until there is nothing left. Its first count of the study's trials waits
    at `meet` (for up to 1 s) for the other workers' first counts: without the lock they all
    count the same empty study, then each asks for a trial."""
    spec = load_study_spec(study_file)
    storage = open_storage(url)
    study = optuna.load_study(study_name=spec.name, storage=storage)
    lock, owner = BudgetLock(url, spec.name), loop.worker_name()
    count_trials, counted = loop.count_trials, []

    def count_then_meet(trials):
        counts = count_trials(trials)
        if not counted:
            counted.append(counts)
            with contextlib.suppress(threading.BrokenBarrierError):
                meet.wait(timeout=1)
        return counts

    loop.count_trials = count_then_meet
    ready.wait(timeout=60)  # every worker set up: they claim together
    while (trial := loop._claim_work(study, storage, lock, spec, owner)) is not None:
        study.tell(trial, 0.5)
