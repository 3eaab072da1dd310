"""Where studies live: URL resolution, redaction, opening RDBStorage, database errors as one line.

The zero-set-up default is SQLite in `runs/optuna.db` through RDBStorage (see README for why).
PostgreSQL URLs are used for real parallel and multi-host work. Both go through RDBStorage, so
heartbeats and stale-trial retry behave the same on either.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from tuner.errors import TunerError
from tuner.execution.heartbeat import MAX_RETRY, heartbeat_settings

STORAGE_ENV = "TUNER_STORAGE"
DEFAULT_DIR = Path("runs")
# Each worker process holds at most POOL_SIZE + MAX_OVERFLOW storage connections (its trial
# loop and its heartbeat thread) plus one short-lived connection for the budget lock.
POOL_SIZE = 2
MAX_OVERFLOW = 1


def default_url() -> str:
    return f"sqlite:///{(DEFAULT_DIR / 'optuna.db').resolve()}"


def resolve_url(url: str | None) -> str:
    """`--storage` wins, then $TUNER_STORAGE, then the embedded default; drivers normalized."""
    url = url or os.environ.get(STORAGE_ENV) or default_url()
    try:
        parsed = make_url(url)
    except Exception:
        raise TunerError(
            f"malformed storage URL {redact(url)!r} (e.g. postgresql://user:pass@host:5432/db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; we ship psycopg2.
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg2")
    elif backend != "sqlite":
        raise TunerError(
            f"unsupported storage {redact(url)!r}: use postgresql://... or sqlite:///path"
        )
    return parsed.render_as_string(hide_password=False)


def redact(url: str) -> str:
    """The URL with its password replaced by ***, safe for logs, errors and exports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        # Unparseable: drop anything between '://user:' and '@' by hand.
        head, sep, rest = url.partition("://")
        if sep and "@" in rest:
            creds, _, host = rest.rpartition("@")
            user = creds.split(":", 1)[0]
            return f"{head}://{user}:***@{host}"
        return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def open_storage(url: str, *, create: bool = False) -> optuna.storages.RDBStorage:
    """Open the storage. Only the launcher creates tables (`create=True`): workers racing on
    table creation is a known Optuna failure."""
    url = resolve_url(url)
    heartbeat, grace = heartbeat_settings()
    if is_sqlite(url):
        _prepare_sqlite(url, create=create)
        # A busy timeout, so parallel workers wait for each other's writes.
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {
            # A connection dropped by a restart or a NAT is replaced on checkout.
            "pool_pre_ping": True,
            "pool_size": POOL_SIZE,
            "max_overflow": MAX_OVERFLOW,
            "pool_recycle": 600,
            "connect_args": POSTGRES_CONNECT_ARGS,
        }
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                skip_table_creation=not create,
                # The schema check opens a second connection inside its first transaction:
                # workers starting together behind a small PgBouncer pool would deadlock on
                # it. The launcher (create=True) still checks.
                skip_compatibility_check=not create,
                heartbeat_interval=heartbeat,
                grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=MAX_RETRY
                ),
            )
        except Exception as e:
            # Another process (a second launcher, the dashboard) created the tables at the
            # same moment: they exist now, so the next attempt finds them.
            if create and _CREATION_RACE.search(str(e)) and attempt < 2:
                continue
            raise TunerError(
                f"cannot open storage {redact(url)}: {describe_db_error(e, url)}"
            ) from None
    raise AssertionError("unreachable")


# What a table or version row created by another process at the same moment looks like.
_CREATION_RACE = re.compile(r"already exists|UNIQUE constraint failed|duplicate key value")

# libpq settings: give up on an unreachable server after 10 s instead of the OS's minutes, and
# keep idle connections alive (and notice dead ones) across long trials.
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 10,
    "application_name": "mnist-tuner",
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

_HINTS = (  # (driver message pattern, what to do), first match wins
    (
        r'relation "\w+" does not exist|no such table',
        "the database has no tuner tables: "
        "create the study with python -m tuner.launch --create-only",
    ),
    (
        r'database "[^"]+" does not exist',
        "create the database first (e.g. createdb), or fix the URL",
    ),
    (r'role "[^"]+" does not exist', "check the user in the URL"),
    (r"password authentication failed", "check the user and password in the URL"),
    (r"could not translate host name", "check the host name in the URL"),
    (r"Connection refused", "is PostgreSQL running there and listening on that port?"),
    (r"timeout expired", "is the host reachable and the port open?"),
)


def describe_db_error(error: BaseException, url: str) -> str:
    """One line from a driver error (the innermost one), any password removed, with a hint."""
    root = error
    for candidate in _chain(error):
        orig = getattr(candidate, "orig", None)  # a SQLAlchemy error's driver error
        if orig is not None:
            root = orig
            break
        root = candidate
    lines = [line.strip() for line in str(root).strip().splitlines() if line.strip()]
    line = lines[0] if lines else type(root).__name__
    password = make_url(url).password
    if password:
        line = line.replace(str(password), "***")
    hint = next((h for pattern, h in _HINTS if re.search(pattern, line)), None)
    return f"{line} ({hint})" if hint else line


def is_connection_error(error: BaseException) -> bool:
    """Whether an error means "the database is unreachable right now" rather than a bug.

    Optuna wraps driver errors in StorageInternalError, so the whole chain is searched.
    """
    for candidate in _chain(error):
        if isinstance(
            candidate,
            (
                sqlalchemy.exc.OperationalError,
                sqlalchemy.exc.InterfaceError,
                sqlalchemy.exc.DisconnectionError,
            ),
        ):
            return True
        if getattr(candidate, "connection_invalidated", False):
            return True
    return False


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _prepare_sqlite(url: str, *, create: bool) -> None:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise TunerError(
            "an in-memory SQLite storage cannot be shared by workers; give a file path"
        )
    path = Path(database)
    if not create and not path.exists():
        raise TunerError(
            f"storage file {path} does not exist; create the study with tuner.launch first"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers (dashboard, progress) work while a worker writes; it persists in the file.
    with contextlib.closing(sqlite3.connect(path, timeout=60)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def artifact_dir() -> Path:
    """Where reports are stored as Optuna artifacts (optuna-dashboard --artifact-dir)."""
    return Path(os.environ.get("TUNER_ARTIFACTS", DEFAULT_DIR / "artifacts"))


def load_existing_study(name: str, url: str, *, hint: str = "") -> optuna.Study:
    """Load a study that must exist already; never creates one (workers racing on table
    creation is a known Optuna failure). Missing study or database trouble -> one line."""
    try:
        return optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:
        raise TunerError(f"no study named {name!r} in {redact(url)}{hint}") from None
    except TunerError:
        raise
    except Exception as e:
        raise TunerError(f"storage {redact(url)}: {describe_db_error(e, url)}") from None


def open_study(study: str, url: str) -> optuna.Study:
    """The stored study that `--study` names: a study file name or path, or a bare stored name
    (a study whose file is not at hand)."""
    from tuner.study import load_study_spec

    try:
        name = load_study_spec(study).name
    except TunerError:
        if study.endswith(".toml"):
            raise
        name = study
    return load_existing_study(name, url)
