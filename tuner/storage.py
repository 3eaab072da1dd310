"""Where studies live: URL resolution, redaction, opening RDBStorage, and the trial-budget lock.

The zero-set-up default is SQLite in `runs/optuna.db` through RDBStorage (see README for why).
PostgreSQL URLs are used for real parallel and multi-host work. Both go through RDBStorage, so
heartbeats and stale-trial retry behave the same on either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import zlib
from pathlib import Path
from typing import Iterator

import optuna
import sqlalchemy
from sqlalchemy.engine import make_url

from tuner.errors import TunerError

STORAGE_ENV = "TUNER_STORAGE"
DEFAULT_DIR = Path("runs")
# A worker beats every HEARTBEAT seconds; a RUNNING trial with no beat for GRACE seconds is
# failed by the next worker that looks, and re-queued once by RetryHeartbeatStaleTrialCallback.
# GRACE is several beats so a slow database round trip is not mistaken for a dead worker.
HEARTBEAT_SECONDS = int(os.environ.get("TUNER_HEARTBEAT_SECONDS", "10"))
GRACE_SECONDS = int(os.environ.get("TUNER_GRACE_SECONDS", "60"))
MAX_RETRY = 3


def default_url() -> str:
    return f"sqlite:///{(DEFAULT_DIR / 'optuna.db').resolve()}"


def resolve_url(url: str | None) -> str:
    """`--storage` wins, then $TUNER_STORAGE, then the embedded default; drivers normalized."""
    url = url or os.environ.get(STORAGE_ENV) or default_url()
    try:
        parsed = make_url(url)
    except Exception:
        raise TunerError(f"malformed storage URL {redact(url)!r} (e.g. postgresql://user:pass@host:5432/db)") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; we ship psycopg2.
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg2")
    elif backend != "sqlite":
        raise TunerError(f"unsupported storage {redact(url)!r}: use postgresql://... or sqlite:///path")
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
    if is_sqlite(url):
        _prepare_sqlite(url, create=create)
        engine_kwargs = {"connect_args": {"timeout": 60}}  # busy timeout for parallel workers
    else:
        engine_kwargs = {
            "pool_pre_ping": True,  # survive idle connections dropped by the server or a restart
            "pool_size": 2,
            "max_overflow": 2,
            "pool_recycle": 600,
            "connect_args": {"connect_timeout": 10},
        }
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            skip_table_creation=not create,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRY
            ),
        )
    except Exception as e:
        raise TunerError(f"cannot open storage {redact(url)}: {describe_db_error(e, url)}") from None


def describe_db_error(error: BaseException, url: str) -> str:
    """One line from a driver error, with any password in it removed."""
    # Optuna wraps driver errors (StorageInternalError "...during the commit..."): find the driver's.
    cause: BaseException | None = error
    while cause is not None and getattr(cause, "orig", None) is None:
        cause = cause.__cause__
    message = str(cause.orig if cause is not None else error).strip().splitlines()
    line = message[0] if message else type(error).__name__
    password = make_url(url).password
    if password:
        line = line.replace(str(password), "***")
    return line


def _prepare_sqlite(url: str, *, create: bool) -> None:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise TunerError("an in-memory SQLite storage cannot be shared by workers; give a file path")
    path = Path(database)
    if not create and not path.exists():
        raise TunerError(f"storage file {path} does not exist; create the study with tuner.launch first")
    path.parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers (dashboard, progress) work while a worker writes; it persists in the file.
    with contextlib.closing(sqlite3.connect(path, timeout=60)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


class BudgetLock:
    """Serializes "count the study's trials, then ask for a new one" across every worker.

    Without it, two workers that see n_trials - 1 at the same moment both start a trial and
    the study overshoots. PostgreSQL: a transaction-scoped advisory lock (works across hosts,
    released if the holder dies). SQLite: an flock on a file beside the database.
    """

    def __init__(self, url: str, study_name: str) -> None:
        self.url = resolve_url(url)
        self.key = zlib.crc32(f"tuner-budget:{study_name}".encode())
        if is_sqlite(self.url):
            self._engine = None
            self._lock_path = Path(make_url(self.url).database + ".lock")
        else:
            self._engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.NullPool)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if self._engine is None:
            with open(self._lock_path, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            with self._engine.begin() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.key})
                yield



def artifact_dir() -> Path:
    """Where reports are stored as Optuna artifacts (optuna-dashboard --artifact-dir)."""
    return Path(os.environ.get("TUNER_ARTIFACTS", DEFAULT_DIR / "artifacts"))
