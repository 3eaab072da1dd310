"""One worker process: load the study, then claim-train-tell until the trial budget is used up.

The pool (tuner.execution.pool) starts one `python -m tuner.execution.loop` per worker slot.
Each process imports TensorFlow and loads the data once and stays up for many trials. Trials
of dead workers are failed and re-queued through heartbeats, and a database outage is waited
out (docs/STORAGE.md). A worker stops like on Ctrl-C, failing its trial as "launcher gone", when
the process that started it dies (Linux: the kernel tells it, even after a SIGKILL).

    python -m tuner.execution.loop --study PATH --index I [--data PATH]   (storage: $TUNER_STORAGE)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import time
import traceback
import warnings
from collections.abc import Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import optuna_internals
from tuner.errors import TunerError
from tuner.execution.budget import BudgetLock
from tuner.execution.heartbeat import CUT_OFF, Heartbeat, fail_and_retry, fail_beatless_trials
from tuner.execution.lifeline import stop_with_launcher
from tuner.execution.storage import (
    describe_db_error,
    is_connection_error,
    open_storage,
    redact,
    resolve_url,
)
from tuner.judging import goal
from tuner.judging.records import GoalState
from tuner.study import StudySpec, load_study_spec, record
from tuner.study.record import count_trials
from tuner.training.data import RawMnist, load_mnist, load_study_data

log = logging.getLogger("tuner.worker")
# We run trials through ask/tell with our own Heartbeat thread, which Optuna does not expect.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
MAX_CONSECUTIVE_FAILURES = 3
DB_OUTAGE_SECONDS = 180  # how long a worker keeps retrying an unreachable database
OUTAGE_RETRY_SECONDS = 2
BUDGET_WAIT_SECONDS = 1  # how often a worker at the budget's edge looks again


_stop_requested = False  # set by the first SIGINT/SIGTERM/SIGHUP: the worker is being stopped
_stop_reason = "interrupted"  # the fail_reason of the trial a stop cuts off
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LAUNCHER_GONE = "launcher gone"


def stop_on_signals(*signals: signal.Signals) -> None:
    """Stop this worker cleanly on these signals: the trial in flight ends FAIL with the reason
    (SIGHUP: the launcher died), then the worker exits. Ray actors call it for SIGINT."""
    for sig in signals:
        signal.signal(sig, _on_stop_signal)


def _on_stop_signal(signum: int, frame: object) -> None:
    global _stop_requested, _stop_reason
    _stop_requested = True
    if signum == signal.SIGHUP:  # only the kernel sends it: the launcher died (see below)
        _stop_reason = LAUNCHER_GONE
    # Once: a second signal must not cut off the bookkeeping that fails the trial (a SIGKILLed
    # launcher's death can come twice, as it dies and again once init adopts us).
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block is done, then raise KeyboardInterrupt.

    A Python-level handler, not a signal mask: TensorFlow's threads would take a masked signal.
    """
    received: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: received.append(signum))
        for sig in STOP_SIGNALS
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        _on_stop_signal(received[0], None)


def make_objective(spec: StudySpec, data_path: str | None):
    """The study's objective: Keras training, or the synthetic stand-in (no TensorFlow). A goal
    study's trials are judged by the gap window its judges have measured (search_constraints)."""
    if spec.synthetic is not None:
        from tuner.training.synthetic import SyntheticObjective

        return SyntheticObjective(spec)
    from tuner.training.backend import configure_worker
    from tuner.training.objective import (
        Objective,  # TensorFlow loads here, once per process
    )

    configure_worker()
    return Objective(
        spec,
        load_study_data(spec, data_path),
        lambda trial: goal.search_constraints(spec, GoalState.read(trial.study)),
    )


def check_same_data(study: optuna.Study, digest: str) -> None:
    """Every worker, on any host or Ray node, must train on the rows the study was created with."""
    recorded = record.Provenance.read(study).data_digest
    if recorded and recorded != digest:
        raise TunerError(
            f"this host's MNIST differs from the one study {study.study_name!r} was created "
            f"with (digest {digest[:12]}, study has {recorded[:12]}); "
            "pass --data with the same file"
        )


def worker_name() -> str:
    """How trials record who ran them: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(spec: StudySpec, url: str, data_path: str | None, *, index: int = 0) -> int:
    """One worker process's loop. Returns 0 when the budget is used up, 1 on repeated failure."""
    objective = make_objective(spec, data_path)
    storage = open_storage(url)
    study = optuna.load_study(
        study_name=spec.name,
        storage=storage,
        sampler=spec.make_sampler(seed_offset=index),
        pruner=spec.make_pruner(),
    )
    if spec.synthetic is None:  # a synthetic study trains on no data
        check_same_data(study, objective.data.digest)
    lock = BudgetLock(url, spec.name)
    owner = worker_name()
    log.info("worker %s on study %r in %s", owner, spec.name, redact(url))
    failures = 0
    outage_since: float | None = None
    abandoned: list[int] = []  # trials cut off by a database outage, to fail and re-queue
    raw: RawMnist | None = None  # the capstone split, loaded when this worker first judges
    while True:
        trial: optuna.Trial | None = None
        try:
            while abandoned:
                if fail_and_retry(study, storage, abandoned[0], reason=CUT_OFF):
                    log.warning(
                        "trial id %d was cut off by the outage: failed and re-queued", abandoned[0]
                    )
                abandoned.pop(0)
            work = _claim_work(study, storage, lock, spec, owner)
            if work is None:
                return 0
            outage_since = None
            if isinstance(work, FrozenTrial):  # a candidate to judge on the capstone split
                raw = raw or load_mnist(data_path)
                log.info("judging trial %d on the capstone split", work.number)
                goal.judge_candidate(study, spec, work, raw, owner)
                continue
            trial = work
            ok = _run_trial(study, storage, trial, objective)
        except Exception as e:
            if not is_connection_error(e):
                raise
            # The database went away (restart, network). The trial in flight, if any, is lost:
            # once the database is back we fail it and re-queue it (the heartbeat check would
            # too, after the grace period, if this process died instead).
            if trial is not None and optuna_internals.trial_id(trial) not in abandoned:
                abandoned.append(optuna_internals.trial_id(trial))
            outage_since = outage_since or time.monotonic()
            if time.monotonic() - outage_since > DB_OUTAGE_SECONDS:
                raise TunerError(
                    f"storage {redact(url)} unreachable for {DB_OUTAGE_SECONDS}s: "
                    f"{describe_db_error(e, url)}"
                ) from None
            log.warning("storage unreachable (%s); retrying", describe_db_error(e, url))
            time.sleep(OUTAGE_RETRY_SECONDS)
            continue
        failures = 0 if ok else failures + 1
        if failures >= MAX_CONSECUTIVE_FAILURES:
            log.error("%d trials in a row failed; this worker stops", failures)
            return 1


def _claim_work(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    lock: BudgetLock,
    spec: StudySpec,
    owner: str,
) -> optuna.Trial | FrozenTrial | None:
    """This worker's next piece of work, claimed atomically across all workers: a candidate to
    judge (goal studies, while judges are wanted), else a new trial if the budget allows; None
    when there is nothing left (budget used up, goal reached or out of time).

    While running trials fill the rest of the budget, wait instead of leaving: one of them may
    yet fail (a killed worker's trial is failed and re-queued after the grace period), and
    someone must be here to run its retry.
    """
    start, waited = time.perf_counter(), 0.0  # for the trial's timings: claim, claim_wait
    while True:
        optuna.storages.fail_stale_trials(study)  # fail and re-queue trials of dead workers
        fail_beatless_trials(study, storage)
        entered = time.perf_counter()
        with lock.hold():
            waited += time.perf_counter() - entered
            if spec.goal is not None:
                state, now = GoalState.read(study), time.time()
                if state.reached or state.expired(now):
                    return None
                candidate = goal.next_candidate(study, spec, state, now)
                if candidate is not None:
                    goal.claim(study, candidate.number, owner, planned=spec.goal.choose_seeds)
                    return candidate
            target = record.target_trials(study, spec.n_trials)
            counts = count_trials(study.get_trials(deepcopy=False))
            if counts.finished >= target:
                return None
            if counts.finished + counts.running < target:
                # A trial must never exist without an owner: Ctrl-C waits until it has one
                # (the pool fails an interrupted worker's trials by owner), and its first
                # beat is recorded now, so it is stale-checkable from the start.
                with interrupts_deferred():
                    trial = study.ask()
                    record.write_worker(trial, owner)
                    storage.record_heartbeat(optuna_internals.trial_id(trial))
                claimed = time.perf_counter() - start
                record.add_timings(trial, {"claim_wait": waited, "claim": claimed - waited})
                return trial
        time.sleep(BUDGET_WAIT_SECONDS)
        waited += BUDGET_WAIT_SECONDS


def _run_trial(
    study: optuna.Study, storage: optuna.storages.RDBStorage, trial: optuna.Trial, objective
) -> bool:
    """Run one trial and tell its outcome. Returns False if it failed."""
    beat = Heartbeat(storage, optuna_internals.trial_id(trial))
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return True
    except KeyboardInterrupt:
        record.write_failed(trial, _stop_reason)  # further stop signals are ignored now
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as e:
        if is_connection_error(e):
            raise  # the worker loop waits for the database, then fails and re-queues this trial
        if _stop_requested:  # an interrupt that surfaced as another error inside the library
            record.write_failed(trial, _stop_reason)
            study.tell(trial, state=TrialState.FAIL)
            raise KeyboardInterrupt from e
        log.error("trial %d failed:\n%s", trial.number, traceback.format_exc())
        record.write_failed(trial, f"{type(e).__name__}: {e}")
        study.tell(trial, state=TrialState.FAIL)
        return False
    finally:
        beat.stop()
    study.tell(trial, value)
    return True


def main(argv: list[str] | None = None) -> int:
    """The per-process entry the pool starts; not a user command (that is tuner.worker)."""
    parser = argparse.ArgumentParser(prog="python -m tuner.execution.loop")
    parser.add_argument("--study", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--data")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"[worker {args.index}] %(levelname)s %(message)s"
    )
    # SIGINT even if started ignoring it; SIGTERM: docker stop; SIGHUP: the launcher died.
    stop_on_signals(*STOP_SIGNALS)
    stop_with_launcher()
    spec = load_study_spec(args.study)
    return run_worker(spec, resolve_url(None), args.data, index=args.index)


if __name__ == "__main__":
    from tuner.cli import run_cli

    run_cli(main)
