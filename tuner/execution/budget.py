"""The trial-budget lock, which keeps parallel workers from overshooting a study's trial target."""

from __future__ import annotations

import contextlib
import fcntl
import random
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url

from tuner.errors import TunerError
from tuner.execution.storage import POSTGRES_CONNECT_ARGS, is_sqlite, resolve_url

_TRY_LOCK = sqlalchemy.text("SELECT pg_try_advisory_xact_lock(:k)")
_POLL_SECONDS = (0.02, 0.1)  # random, so waiting workers do not poll in step


class BudgetLock:
    """Serializes "count the study's trials, then ask for a new one" across every worker.

    Without it, two workers that see n_trials - 1 at the same moment both start a trial and
    the study overshoots. PostgreSQL: a transaction-scoped advisory lock (works across hosts and
    through PgBouncer's transaction pooling, released if the holder dies). SQLite: an flock on a
    file beside the database.
    """

    def __init__(self, url: str, study_name: str) -> None:
        self.url = resolve_url(url)
        self.key = zlib.crc32(f"tuner-budget:{study_name}".encode())
        if is_sqlite(self.url):
            self._engine = None
            database = make_url(self.url).database
            if not database:
                raise TunerError("an SQLite storage for parallel workers needs a file path")
            self._lock_path = Path(database + ".lock")
        else:
            # One connection per claim: the lock lives exactly as long as its transaction.
            self._engine = sqlalchemy.create_engine(
                self.url, poolclass=sqlalchemy.NullPool, connect_args=POSTGRES_CONNECT_ARGS
            )

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
            # Poll the non-blocking form in short transactions: a worker blocked inside
            # pg_advisory_xact_lock would hold a server connection for the whole wait, and
            # behind PgBouncer (transaction pooling) waiters filling the pool starve the holder,
            # which needs one more connection to count and create its trial.
            with self._engine.connect() as conn:
                while True:
                    with conn.begin():
                        got = conn.execute(_TRY_LOCK, {"k": self.key}).scalar()
                        if got:
                            yield
                            return
                    time.sleep(random.uniform(*_POLL_SECONDS))
