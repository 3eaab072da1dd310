"""PostgreSQL-side helpers shared by tests/test_pgbouncer.py and the storage benchmark
(python -m scripts.bench_storage): Debian's pgbouncer started in front of a server, and the
server's connection count sampled.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg2

PGBOUNCER = Path("/usr/sbin/pgbouncer")


class PgBouncer:
    """pgbouncer in transaction mode in front of a PostgreSQL server, for one database, on a
    free loopback port (trust auth, as the local test server has)."""

    def __init__(
        self,
        database: str,
        *,
        pool_size: int,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str = "postgres",
    ) -> None:
        if not PGBOUNCER.is_file():
            raise RuntimeError(f"{PGBOUNCER} missing: apt-get install -y pgbouncer (.ci/run does)")
        self.database, self.pool_size, self.host, self.user = database, pool_size, host, user
        # Not a private temp dir of root's: pgbouncer runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="tuner-pgbouncer-"))
        with socket.socket() as s:
            s.bind((host, 0))
            self.port = s.getsockname()[1]
        (self.root / "userlist.txt").write_text(f'"{user}" ""\n')
        (self.root / "pgbouncer.ini").write_text(f"""\
[databases]
{database} = host={host} port={port} dbname={database}
[pgbouncer]
listen_addr = {host}
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.root / "userlist.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
reserve_pool_size = 0
max_client_conn = 5000
logfile = {self.root / "pgbouncer.log"}
""")
        cmd = [str(PGBOUNCER), str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            shutil.chown(self.root, "postgres")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # Not a pipe: pgbouncer logs every login to stderr too, and once an unread pipe's
        # buffer (64 KiB) is full it blocks in write() and every client stalls with it.
        with open(self.root / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg2.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg2.OperationalError as e:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(
                        f"pgbouncer did not start on port {self.port}: {str(e).strip()} "
                        f"{self.log()[-500:]}"
                    ) from None
                time.sleep(0.1)

    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def log(self) -> str:
        for name in ("pgbouncer.log", "stderr.log"):  # the second has start-up errors
            path = self.root / name
            if path.exists() and path.stat().st_size:
                return path.read_text(errors="replace")
        return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class ServerConnections:
    """Samples, in a thread, how many server connections a database has (pg_stat_activity on
    the real server, not a bouncer), and keeps the largest count seen."""

    def __init__(self, admin_dsn: str, database: str, *, every: float = 0.05) -> None:
        self.admin_dsn, self.database, self.every = admin_dsn, database, every
        self.peak, self.samples = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = psycopg2.connect(self.admin_dsn, connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (self.database,),
                    )
                    self.peak = max(self.peak, cur.fetchone()[0])
                    self.samples += 1
                    time.sleep(self.every)
        finally:
            conn.close()

    def __enter__(self) -> ServerConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
