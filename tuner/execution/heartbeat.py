"""Heartbeats, and failing and re-queueing the trials of workers that stopped beating.

A worker beats every HEARTBEAT seconds while it runs a trial; a RUNNING trial with no beat for
GRACE seconds is failed by the next worker that looks (optuna.storages.fail_stale_trials), and
re-queued by RetryHeartbeatStaleTrialCallback (up to MAX_RETRY times). Trials that never beat,
and trials cut off by a database outage or a killed worker, are failed and re-queued here.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import threading

import optuna

from tuner import optuna_internals
from tuner.errors import TunerError
from tuner.study import record

log = logging.getLogger("tuner.worker")
# GRACE is several beats so that a slow database round trip or a short restart is not mistaken
# for a dead worker; a shorter grace re-queues a killed worker's trial sooner. docs/STORAGE.md
# explains the choice.
HEARTBEAT_ENV = "TUNER_HEARTBEAT_SECONDS"
GRACE_ENV = "TUNER_GRACE_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 10
DEFAULT_GRACE_SECONDS = 60
MAX_RETRY = 3
# fail_reason of a trial failed and re-queued here (Optuna's stale check writes none).
NEVER_BEAT = "never sent a heartbeat (re-queued)"
CUT_OFF = "cut off by a database outage (re-queued by its worker)"
WORKER_EXITED = "worker exited during the trial"  # written by the pool, which re-queues it


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat seconds, grace seconds) from the environment, checked."""
    values = []
    for name, default in (
        (HEARTBEAT_ENV, DEFAULT_HEARTBEAT_SECONDS),
        (GRACE_ENV, DEFAULT_GRACE_SECONDS),
    ):
        raw = os.environ.get(name, "").strip() or str(default)
        if not raw.isdigit() or int(raw) < 1:
            raise TunerError(f"${name} must be a whole number of seconds >= 1, got {raw!r}")
        values.append(int(raw))
    heartbeat, grace = values
    if grace <= heartbeat:
        raise TunerError(
            f"${GRACE_ENV} ({grace}) must be longer than ${HEARTBEAT_ENV} ({heartbeat}), "
            "or live trials are failed as stale; a few heartbeats long is usual"
        )
    return heartbeat, grace


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


def fail_and_retry(
    study: optuna.Study, storage: optuna.storages.RDBStorage, trial_id: int, *, reason: str
) -> bool:
    """Fail a RUNNING trial whose worker is gone or was cut off, and re-queue it (same
    parameters) as Optuna's heartbeat check does for a stale one. `reason` (its fail_reason)
    says which path failed it: Optuna's own stale check writes none.

    Returns False if someone else finished it first (e.g. another worker's heartbeat check).
    """
    try:
        storage.set_trial_user_attr(trial_id, record.FAIL_REASON, reason)
        if not storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    callback = storage.get_heartbeat_stale_trial_callback()
    if callback is not None:
        callback(study, copy.deepcopy(storage.get_trial(trial_id)))
    return True


def fail_beatless_trials(study: optuna.Study, storage: optuna.storages.RDBStorage) -> int:
    """Fail and re-queue RUNNING trials that never recorded a heartbeat and are older than
    twice the grace period; returns how many.

    Optuna's stale check skips a trial with no heartbeat row. A worker killed, or cut off from
    the database, between creating a trial and its first beat leaves one; without this it would
    stay RUNNING for ever and hold a place in the budget.
    """
    grace = optuna_internals.grace_period(storage)
    if not grace:
        return 0
    cutoff = dt.datetime.now() - dt.timedelta(seconds=2 * grace)  # naive local, as Optuna's
    old = {
        optuna_internals.trial_id(t)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if t.datetime_start is not None and t.datetime_start < cutoff
    }
    if not old:
        return 0
    beaten = optuna_internals.trials_with_heartbeat(storage, old)
    return sum(
        fail_and_retry(study, storage, beatless, reason=NEVER_BEAT)
        for beatless in sorted(old - beaten)
    )
