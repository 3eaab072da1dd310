"""What the storage benchmark (scripts/bench_storage.py) measures of a finished run, and TPE's
time per sampled trial."""

from __future__ import annotations

import statistics
import time
from typing import Any

# The sampler the storage figures are measured with: multivariate TPE, whose cost per trial
# stays small as a study grows to thousands of trials (a Gaussian process's does not).
TPE: dict[str, Any] = {
    "sampler": {
        "name": "tpe",
        "seed": 42,
        "n_startup_trials": 10,
        "multivariate": True,
        "group": True,
    }
}


def measure(study, *, workers: int, sleep: float, target: int) -> dict[str, Any]:
    from optuna.trial import TrialState

    begin = time.perf_counter()
    trials = study.get_trials(deepcopy=False)
    # What every claim (under the budget lock) and every progress line pays: read the study.
    read_ms = 1000 * (time.perf_counter() - begin)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if not finished:
        return {"finished": 0}
    window = (
        max(t.datetime_complete for t in finished)
        - min(t.datetime_start for t in trials if t.datetime_start)
    ).total_seconds()
    # A pruned trial slept one epoch per report it made.
    slept = sum(sleep / 5 * max(1, len(t.intermediate_values)) for t in finished)
    in_trial = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        - sleep / 5 * max(1, len(t.intermediate_values))
        for t in finished
    ]
    return {
        "finished": len(finished),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "running_left": sum(t.state == TrialState.RUNNING for t in trials),
        "waiting_left": sum(t.state == TrialState.WAITING for t in trials),
        "retries": sum("failed_trial" in t.system_attrs for t in trials),
        "lost": max(0, target - len(finished)),
        "overshoot": max(0, len(finished) - target),
        "window_s": round(window, 2),
        "trials_per_s": round(len(finished) / window, 2),
        "overhead_ms_per_trial": round(1000 * (workers * window - slept) / len(finished), 1),
        "in_trial_overhead_ms": round(1000 * statistics.median(in_trial), 1),
        "read_study_ms": round(read_ms, 1),
    }


def sampler_seconds(sizes: list[int], *, asks: int = 5) -> list[tuple[int, float]]:
    """Median seconds multivariate TPE (TPE below) takes to sample one trial's parameters in
    mnist_mlp's space when the study holds N finished trials, for each N in `sizes`. In memory,
    so the figure is the sampler's alone; the trials are random configs with random scores."""
    import optuna
    from optuna.trial import TrialState

    from tuner.study import load_study_spec
    from tuner.study.samplers import build_sampler
    from tuner.study.space import suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study_spec("mnist_mlp")
    storage = optuna.storages.InMemoryStorage()
    filler = optuna.create_study(
        study_name="fill",
        storage=storage,
        direction=optuna.study.StudyDirection[spec.direction.upper()],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    sampler = build_sampler(TPE["sampler"], spec.space)
    timed = optuna.load_study(study_name="fill", storage=storage, sampler=sampler)
    scores = iter(range(10**9))
    rows, filled = [], 0
    for size in sorted(sizes):
        for _ in range(size - filled):
            trial = filler.ask()
            suggest(trial, spec.space)
            filler.tell(trial, (next(scores) * 7919 % 1000) / 1000)
        filled = size
        seconds = []
        for _ in range(asks):
            begin = time.perf_counter()
            trial = timed.ask()
            suggest(trial, spec.space)
            seconds.append(time.perf_counter() - begin)
            timed.tell(trial, state=TrialState.FAIL)  # a FAIL does not feed the sampler
        rows.append((size, statistics.median(seconds)))
    return rows
