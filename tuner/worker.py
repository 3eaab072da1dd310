"""A worker: load the study, then ask-train-tell until the study's trial budget is used up.

    python -m tuner.worker --study NAME --storage URL [--data PATH] [--workers N | --gpus ...]

joins a study that already exists (created by tuner.launch), from this or another host. It
starts a pool of worker processes like the launcher does; each process imports TensorFlow and
loads the data once and stays up for many trials.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from tuner.errors import TunerError, run_cli
from tuner.results import TARGET_ATTR, count_trials
from tuner.storage import BudgetLock, open_storage, redact, resolve_url
from tuner.studyfile import StudySpec, load_study_spec

log = logging.getLogger("tuner.worker")
# We run trials through ask/tell with our own Heartbeat thread, which Optuna does not expect.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
MAX_CONSECUTIVE_FAILURES = 3
DB_OUTAGE_SECONDS = 180  # how long a worker keeps retrying an unreachable database


class Heartbeat:
    """Beats for one running trial, so a killed worker's trial is detected as stale."""

    def __init__(self, storage: optuna.storages.RDBStorage, trial_id: int) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(storage, trial_id), daemon=True, name="heartbeat"
        )
        self._thread.start()

    def _run(self, storage: optuna.storages.RDBStorage, trial_id: int) -> None:
        interval = storage.get_heartbeat_interval()
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception as e:  # a database blip must not kill the thread
                log.warning("heartbeat failed: %s", type(e).__name__)
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_worker(spec: StudySpec, url: str, data_path: str | None, *, index: int = 0) -> int:
    """One worker process's loop. Returns 0 when the budget is used up, 1 on repeated failure."""
    from tuner.backend import configure_worker
    from tuner.data import load_search_data
    from tuner.objective import Objective  # TensorFlow loads here, once per process

    configure_worker()
    storage = open_storage(url)
    study = optuna.load_study(
        study_name=spec.name,
        storage=storage,
        sampler=spec.make_sampler(seed_offset=index),
        pruner=spec.make_pruner(),
    )
    data = load_search_data(
        data_path, train_rows=spec.data.train_rows, validation_rows=spec.data.validation_rows,
        evaluate_on=spec.data.evaluate_on, test_rows=spec.data.test_rows,
    )
    objective = Objective(spec, data)
    lock = BudgetLock(url, spec.name)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    failures = 0
    outage_since: float | None = None
    while True:
        try:
            trial = _claim_trial(study, lock, spec)
            if trial is None:
                return 0
            outage_since = None
            trial.set_user_attr("worker", owner)
            ok = _run_trial(study, storage, trial, objective)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as e:
            # The database went away (restart, network): the trial in flight, if any, stops
            # beating and is failed and retried by the heartbeat check once we reconnect.
            outage_since = outage_since or time.monotonic()
            if time.monotonic() - outage_since > DB_OUTAGE_SECONDS:
                raise TunerError(f"storage {redact(url)} unreachable for {DB_OUTAGE_SECONDS}s") from e
            log.warning("storage unreachable (%s); retrying", type(e).__name__)
            time.sleep(2)
            continue
        failures = 0 if ok else failures + 1
        if failures >= MAX_CONSECUTIVE_FAILURES:
            log.error("%d trials in a row failed; this worker stops", failures)
            return 1


def _claim_trial(study: optuna.Study, lock: BudgetLock, spec: StudySpec) -> optuna.Trial | None:
    """Start a trial if the budget allows, atomically across all workers."""
    optuna.storages.fail_stale_trials(study)  # fail and re-queue trials of dead workers
    with lock.hold():
        target = study.user_attrs.get(TARGET_ATTR, spec.n_trials)
        counts = count_trials(study.get_trials(deepcopy=False))
        if counts.finished + counts.running >= target:
            return None
        return study.ask()


def _run_trial(study, storage, trial: optuna.Trial, objective) -> bool:
    """Run one trial and tell its outcome. Returns False if it failed."""
    beat = Heartbeat(storage, trial._trial_id)
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return True
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish the bookkeeping undisturbed
        trial.set_user_attr("fail_reason", "interrupted")
        study.tell(trial, state=TrialState.FAIL)
        raise
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError):
        raise
    except Exception as e:
        log.error("trial %d failed:\n%s", trial.number, traceback.format_exc())
        trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}"[:500])
        study.tell(trial, state=TrialState.FAIL)
        return False
    finally:
        beat.stop()
    study.tell(trial, value)
    return True


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by tuner.launch and tuner.worker."""
    parser.add_argument("--study", required=True, help="a name from studies/ or a .toml path")
    parser.add_argument("--storage", help="storage URL (default: $TUNER_STORAGE or runs/optuna.db)")
    parser.add_argument("--data", help="local Keras-layout mnist.npz (default: $TUNER_DATA or download)")
    parser.add_argument("--workers", type=int, default=2, help="CPU worker processes (default 2)")
    parser.add_argument("--gpus", help="'all' or a list like 0,1: one worker process per GPU slot")
    parser.add_argument("--workers-per-gpu", type=int, default=1, help="worker processes per GPU")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuner.worker", description=__doc__.split("\n")[0])
    add_worker_arguments(parser)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)  # set by the pool
    args = parser.parse_args(argv)
    spec = load_study_spec(args.study)
    url = resolve_url(args.storage)
    if args.index is not None:
        logging.basicConfig(level=logging.INFO, format=f"[worker {args.index}] %(levelname)s %(message)s")
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # docker stop -> clean FAIL
        return run_worker(spec, url, args.data, index=args.index)

    from tuner.pool import run_pool, worker_slots

    storage = open_storage(url)
    try:
        optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:
        raise TunerError(
            f"study {spec.name!r} does not exist in {redact(url)}; create it with tuner.launch"
        ) from None
    slots = worker_slots(workers=args.workers, gpus=args.gpus, per_gpu=args.workers_per_gpu)
    return run_pool(spec, url, args.data, slots)


if __name__ == "__main__":
    run_cli(main)
