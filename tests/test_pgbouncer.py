"""Workers through PgBouncer in transaction pooling mode, for real: Debian's pgbouncer in front of
the local PostgreSQL, on a free loopback port, started by the test.

What the product relies on and these tests exercise through the bouncer: creating the study
(tables and all, by the launcher), the budget lock (`pg_advisory_xact_lock`, which lives and dies
with its transaction, so transaction pooling keeps it), heartbeats, and the stale-trial retry.
The server-side connection count is read from pg_stat_activity on the real server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from conftest import PG_ADMIN_USER, PG_HOST, PG_PORT, _admin_connect
from optuna.trial import TrialState
from test_postgres import (
    FAST_HEARTBEAT,
    assert_exact_budget,
    finish,
    load,
    start,
    synthetic_study,
    wait_for,
)

PGBOUNCER = Path("/usr/sbin/pgbouncer")
# Server connections per (database, user): half the 4 workers, each of which holds up to 4
# client connections (15 server connections when they connect directly). A pool smaller than
# the worker processes is what used to deadlock (a worker waiting inside pg_advisory_xact_lock
# held a server connection; so did Optuna's schema check on opening the storage: 0 of 40 trials
# in 400 s measured); this size checks that the polled lock and the launcher-only schema check
# keep it from happening.
POOL_SIZE = 2


class PgBouncer:
    """pgbouncer in transaction mode in front of the local PostgreSQL, for one database."""

    def __init__(self, database: str, *, pool_size: int) -> None:
        assert PGBOUNCER.is_file(), (
            f"{PGBOUNCER} missing: apt-get install -y pgbouncer (.ci/run does)"
        )
        self.database, self.pool_size = database, pool_size
        # Not pytest's tmp_path: its parent is private to root, and pgbouncer runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="tuner-pgbouncer-"))
        with socket.socket() as s:
            s.bind((PG_HOST, 0))
            self.port = s.getsockname()[1]
        (self.root / "userlist.txt").write_text(f'"{PG_ADMIN_USER}" ""\n')
        (self.root / "pgbouncer.ini").write_text(f"""\
[databases]
{database} = host={PG_HOST} port={PG_PORT} dbname={database}
[pgbouncer]
listen_addr = {PG_HOST}
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.root / "userlist.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
reserve_pool_size = 0
max_client_conn = 1000
logfile = {self.root / "pgbouncer.log"}
""")
        cmd = [str(PGBOUNCER), str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            shutil.chown(self.root, "postgres")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg2.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg2.OperationalError as e:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    pytest.fail(
                        f"pgbouncer did not start on port {self.port}: {str(e).strip()} "
                        f"{self.log()[-500:]}"
                    )
                time.sleep(0.1)

    def url(self) -> str:
        return f"postgresql://{PG_ADMIN_USER}@{PG_HOST}:{self.port}/{self.database}"

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return (
            path.read_text()
            if path.exists()
            else (self.proc.stderr.read() if self.proc.poll() is not None else "")
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def bouncer(pg_url):
    """pgbouncer for pg_url's database; stopped before pg_url drops it."""
    server = PgBouncer(pg_url.rsplit("/", 1)[1], pool_size=POOL_SIZE)
    try:
        yield server
    finally:
        server.close()


class ServerConnections:
    """Samples, in a thread, how many server connections the database has (pg_stat_activity on
    the real server, not the bouncer), and keeps the largest count seen."""

    def __init__(self, database: str) -> None:
        self.database, self.peak, self.samples = database, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = _admin_connect()
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
                    time.sleep(0.05)
        finally:
            conn.close()

    def __enter__(self) -> ServerConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_four_workers_through_pgbouncer_reach_the_target_on_few_server_connections(
    tmp_path, pg_url, bouncer, mnist_path
):
    database = pg_url.rsplit("/", 1)[1]
    study_file = synthetic_study(tmp_path, n_trials=40, epochs=3, epoch_seconds=0.05)
    # The launcher creates the study (tables included) through the bouncer, then runs 4 workers.
    with ServerConnections(database) as server:
        proc = start(
            "tuner.launch",
            "--study",
            study_file,
            "--storage",
            bouncer.url(),
            "--workers",
            "4",
            "--n-trials",
            "40",
            "--data",
            mnist_path,
            cwd=tmp_path,
        )
        out, err = finish(proc)
    assert proc.returncode == 0, err
    assert "40/40 done" in out, out[-2000:]
    trials = assert_exact_budget(load(pg_url), 40)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2, (
        "the workers should have shared the work"
    )
    assert server.samples > 10, "too few pg_stat_activity samples to trust the peak"
    assert 1 <= server.peak <= POOL_SIZE, (
        f"{server.peak} server connections through a bouncer with default_pool_size={POOL_SIZE}"
    )
    print(
        f"\npgbouncer test: 4 workers, 40/40 trials, peak {server.peak} server connections "
        f"(default_pool_size={POOL_SIZE}, {server.samples} samples)"
    )


def test_sigkilled_worker_behind_pgbouncer_has_its_trial_failed_and_retried(
    tmp_path, pg_url, bouncer, mnist_path
):
    study_file = synthetic_study(tmp_path, n_trials=9, epochs=4, epoch_seconds=0.4)
    proc = start(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        bouncer.url(),
        "--workers",
        "3",
        "--data",
        mnist_path,
        cwd=tmp_path,
        env=FAST_HEARTBEAT,
    )

    def trial_in_its_second_epoch():  # read directly from PostgreSQL, not through the bouncer
        running = load(pg_url).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return next((t for t in running if len(t.intermediate_values) >= 1), None)

    victim = wait_for(trial_in_its_second_epoch, timeout=120, what="a trial mid-way")
    os.kill(int(victim.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    killed_at = time.time()
    _out, err = finish(proc)

    assert proc.returncode == 0, err
    assert "worker exited with code -9" in err
    study = load(pg_url)
    trials = assert_exact_budget(study, 9)
    killed = study.trials[victim.number]
    assert killed.state == TrialState.FAIL
    # Failed by a live worker's heartbeat check (beats went through the bouncer until the kill),
    # a grace period (3 s) after it, not at the end by the pool.
    fail_delay = killed.datetime_complete.timestamp() - killed_at
    assert 1.5 <= fail_delay <= 20, fail_delay
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, retries
    assert retries[0].params == killed.params
    print(
        f"\npgbouncer kill test: trial #{victim.number} FAIL {fail_delay:.1f}s after the kill, "
        f"retried as #{retries[0].number} (COMPLETE); 9/9 finished"
    )
