"""Workers through PgBouncer in transaction pooling mode, for real: Debian's pgbouncer in front of
the local PostgreSQL, on a free loopback port, started by the test.

What the product relies on and these tests exercise through the bouncer: creating the study
(tables and all, by the launcher), the budget lock (`pg_advisory_xact_lock`, which lives and dies
with its transaction, so transaction pooling keeps it), heartbeats, and the stale-trial retry.
The server-side connection count is read from pg_stat_activity on the real server.
"""

from __future__ import annotations

import os
import signal
import time

import psycopg2
import pytest
from conftest import FAST_HEARTBEAT, PG_ADMIN_USER, PG_HOST, PG_PORT
from optuna.trial import TrialState
from test_postgres import (
    assert_exact_budget,
    finish,
    load,
    start,
    synthetic_study,
    wait_for,
)

from scripts.pgserver import PgBouncer, ServerConnections

# Server connections per (database, user): half the 4 workers, each of which holds up to 4
# client connections (15 server connections when they connect directly). A pool smaller than
# the worker processes is what used to deadlock (a worker waiting inside pg_advisory_xact_lock
# held a server connection; so did Optuna's schema check on opening the storage: 0 of 40 trials
# in 400 s measured); this size checks that the polled lock and the launcher-only schema check
# keep it from happening.
POOL_SIZE = 2


@pytest.fixture
def bouncer(pg_url):
    """pgbouncer for pg_url's database; stopped before pg_url drops it."""
    server = PgBouncer(pg_url.rsplit("/", 1)[1], pool_size=POOL_SIZE, host=PG_HOST, port=PG_PORT)
    try:
        yield server
    finally:
        server.close()


def test_four_workers_through_pgbouncer_reach_the_target_on_few_server_connections(
    tmp_path, pg_url, bouncer, mnist_path
):
    database = pg_url.rsplit("/", 1)[1]
    study_file = synthetic_study(tmp_path, n_trials=40, epochs=3, epoch_seconds=0.05)
    # The launcher creates the study (tables included) through the bouncer, then runs 4 workers.
    admin = f"postgresql://{PG_ADMIN_USER}@{PG_HOST}:{PG_PORT}/postgres"
    with ServerConnections(admin, database) as server:
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


def test_the_bouncer_keeps_serving_after_logging_more_than_a_pipe_buffer(bouncer):
    """pgbouncer logs every login and logout to stderr as well as its log file. The harness once
    gave it an unread pipe: after ~64 KiB (a few hundred logins, seconds with 32 workers) it
    blocked in write() and every worker stalled with it, which read like a product deadlock."""
    for _ in range(600):
        psycopg2.connect(bouncer.url(), connect_timeout=5).close()
    assert len(bouncer.log()) > 65536
    with psycopg2.connect(bouncer.url(), connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
