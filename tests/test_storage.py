"""Storage helpers: URL handling, error lines, heartbeat settings, and the sweep for trials that
never recorded a heartbeat (against the real local PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from tuner.errors import TunerError
from tuner.execution.heartbeat import fail_beatless_trials, heartbeat_settings
from tuner.execution.storage import describe_db_error, open_storage, redact, resolve_url
from tuner.optuna_internals import trial_id


def test_bare_postgresql_uses_psycopg2_and_passwords_are_redacted():
    assert resolve_url("postgresql://u:pw@h:5432/d") == "postgresql+psycopg2://u:pw@h:5432/d"
    assert resolve_url("postgresql+psycopg2://u:pw@h/d") == "postgresql+psycopg2://u:pw@h/d"
    assert redact("postgresql+psycopg2://u:pw@h:5432/d") == "postgresql+psycopg2://u:***@h:5432/d"
    with pytest.raises(TunerError, match="unsupported storage 'mysql://u:\\*\\*\\*@h/d'"):
        resolve_url("mysql://u:pw@h/d")


def test_driver_errors_become_one_line_with_a_hint_and_no_password():
    url = "postgresql://u:hunter2@h/d"
    error = sqlalchemy.exc.OperationalError(
        "connect",
        {},
        Exception(
            'connection to server failed: FATAL:  database "d" does not exist\npassword was hunter2'
        ),
    )
    line = describe_db_error(error, url)
    assert line == (
        'connection to server failed: FATAL:  database "d" does not exist '
        "(create the database first (e.g. createdb), or fix the URL)"
    )
    wrapped = optuna.exceptions.StorageInternalError("commit failed")
    wrapped.__cause__ = sqlalchemy.exc.OperationalError("x", {}, Exception("secret hunter2 leaked"))
    assert describe_db_error(wrapped, url) == "secret *** leaked"


@pytest.mark.parametrize(
    "heartbeat, grace, problem",
    [
        ("0", "60", "TUNER_HEARTBEAT_SECONDS must be a whole number of seconds >= 1, got '0'"),
        ("10", "1.5", "TUNER_GRACE_SECONDS must be a whole number of seconds >= 1, got '1.5'"),
        ("10", "10", "TUNER_GRACE_SECONDS (10) must be longer than $TUNER_HEARTBEAT_SECONDS (10)"),
    ],
)
def test_heartbeat_settings_are_checked(monkeypatch, heartbeat, grace, problem):
    monkeypatch.setenv("TUNER_HEARTBEAT_SECONDS", heartbeat)
    monkeypatch.setenv("TUNER_GRACE_SECONDS", grace)
    with pytest.raises(TunerError) as info:
        heartbeat_settings()
    assert problem in str(info.value)


def test_defaults_are_10s_heartbeat_and_60s_grace(monkeypatch):
    monkeypatch.delenv("TUNER_HEARTBEAT_SECONDS", raising=False)
    monkeypatch.delenv("TUNER_GRACE_SECONDS", raising=False)
    assert heartbeat_settings() == (10, 60)


def test_a_running_trial_that_never_beat_is_failed_and_retried_after_twice_the_grace(
    pg_url, monkeypatch
):
    monkeypatch.setenv("TUNER_HEARTBEAT_SECONDS", "1")
    monkeypatch.setenv("TUNER_GRACE_SECONDS", "3")
    storage = open_storage(pg_url, create=True)
    study = optuna.create_study(study_name="beat", storage=storage)
    never_beat, beating, young = (study.ask() for _ in range(3))
    for trial in (never_beat, beating, young):
        trial.suggest_float("x", 0, 1)
    storage.record_heartbeat(trial_id(beating))
    # Age two of them past 2 x grace (the column holds naive UTC); the young one started now.
    engine = sqlalchemy.create_engine(resolve_url(pg_url))
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE trials SET datetime_start = :t WHERE trial_id IN (:a, :b)"),
            {
                "t": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
                - dt.timedelta(seconds=7),
                "a": trial_id(never_beat),
                "b": trial_id(beating),
            },
        )
    engine.dispose()

    assert fail_beatless_trials(study, storage) == 1
    states = {t.number: t.state for t in study.get_trials()}
    assert states[never_beat.number] == TrialState.FAIL
    assert states[beating.number] == TrialState.RUNNING  # the heartbeat check's business
    assert states[young.number] == TrialState.RUNNING
    retry = [
        t for t in study.get_trials() if t.system_attrs.get("failed_trial") == never_beat.number
    ]
    assert len(retry) == 1 and retry[0].state == TrialState.WAITING
    assert retry[0].params == study.trials[never_beat.number].params
    assert fail_beatless_trials(study, storage) == 0  # once only
