"""Benchmark: the storage layer at scale, with a synthetic objective that sleeps.

    python -m scripts.bench_storage [--postgres 8,16,32] [--pgbouncer 32,64,128]
        [--pool-size 20] [--sqlite 2,4] [--n-trials 300] [--epoch-seconds 0.02]
        [--pg postgresql://postgres@127.0.0.1:5432] [--timeout 600] [--data PATH]
        [--sampler-trials 1000,5000,10000] [--doc PATH]

Run from the repository root. Each run is `python -m tuner.launch --study <synthetic study>
--storage URL --workers N` on a fresh database (PostgreSQL: CREATE DATABASE
bench_storage_<random>, dropped afterwards; SQLite: a fresh file). `--pgbouncer` runs go through
a PgBouncer (transaction pooling, --pool-size server connections) started for the run in front
of the same server (scripts/pgserver.py). The study is mnist_mlp's space, sampler and pruner
with a `[synthetic]` table and validation accuracy as its metric (scripts/bench/variants.py
writes it): each trial sleeps epoch_seconds per epoch (5 epochs) and reports every epoch, so the
worker, budget lock, heartbeat and pruner traffic is the real code's and TensorFlow is never
imported. At the end it prints a dated markdown section to fold into docs/BENCHMARKS.md by hand
(--doc PATH writes it to PATH instead).

Figures per run:
- trials/s: finished trials / (last completion - first start), worker start-up excluded;
- worker time per trial not spent sleeping: (workers x that window - trials x sleep) / trials.
  It is the storage, budget-lock and sampler cost a trial adds (the sampler's TPE share grows
  with the study's size), waiting for the lock included;
- in-trial overhead: median of (trial duration - its sleep): reports, pruner, user attributes;
- finished vs target (lost: fewer; duplicate/overshoot: more), FAIL, RUNNING left, retries;
- connection errors: worker-log and launcher lines about refused/dropped connections;
- peak server connections: pg_stat_activity for the run's database, sampled every 0.2 s;
- read whole study: one study.get_trials() at the end, as every claim and progress line does;
  database MB: pg_database_size at the end (an empty database is about 7.5 MB).
--sampler-trials also times mnist_mlp's TPE sampler per trial at those study sizes, in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scripts.bench import doc
from scripts.bench.storage_figures import TPE, measure, sampler_seconds
from scripts.pgserver import PgBouncer, ServerConnections

MODULE = "scripts.bench_storage"
CONNECTIONS_PER_WORKER = 4  # docs/STORAGE.md: pool 2 + 1 overflow, plus the budget lock's one
ERROR_PATTERN = re.compile(
    r"too many clients|connection .*(refused|failed|closed)|could not connect|"
    r"storage unreachable|OperationalError|server closed",
    re.I,
)


def pg_admin(base: str, sql: str) -> list[tuple]:
    import psycopg2

    dsn = base.replace("postgresql+psycopg2://", "postgresql://") + "/postgres"
    deadline = time.monotonic() + 120
    while True:  # a run's workers may hold every connection slot for a while
        try:
            conn = psycopg2.connect(dsn)
            break
        except psycopg2.OperationalError as e:
            if "too many clients" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(1)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def run_one(kind: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    import optuna

    from scripts.bench.variants import write_variant
    from tuner.execution.storage import open_storage

    work = Path(tempfile.mkdtemp(prefix=f"bench_storage_{kind}{workers}_"))
    name = f"synth_{kind}_{workers}"
    study_file = work / f"{name}.toml"
    # A synthetic study has no train accuracy for mnist_mlp's capstone_margin metric.
    synthetic = {"synthetic": {"epoch_seconds": args.epoch_seconds}, "metric": "val_accuracy"}
    # No [goal] or warm starts: judging needs real capstone retrains, and the storage load is
    # the search's.
    search_only = {"goal": None, "warm_start": None}
    overrides = {"name": name, "n_trials": args.n_trials, **synthetic, **search_only, **TPE}
    write_variant("mnist_mlp", overrides, study_file)
    facts: dict[str, Any] = {"backend": kind, "workers": workers, "target": args.n_trials}
    db = None
    bouncer = None
    if kind in ("postgres", "pgbouncer"):
        db = f"bench_storage_{uuid.uuid4().hex[:8]}"
        pg_admin(args.pg, f"CREATE DATABASE {db}")
        url = f"{args.pg}/{db}"
        facts["max_connections"] = int(pg_admin(args.pg, "SHOW max_connections")[0][0])
        facts["connections_in_use_before"] = int(
            pg_admin(args.pg, "SELECT count(*) FROM pg_stat_activity")[0][0]
        )
        facts["connections_needed"] = workers * CONNECTIONS_PER_WORKER
        if kind == "pgbouncer":
            server = urlsplit(args.pg)
            bouncer = PgBouncer(
                db,
                pool_size=args.pool_size,
                host=server.hostname or "127.0.0.1",
                port=server.port or 5432,
                user=server.username or "postgres",
            )
            url = bouncer.url()
            facts["connections_needed"] = args.pool_size
    else:
        url = f"sqlite:///{work / 'optuna.db'}"
    cmd = [sys.executable, "-m", "tuner.launch", "--study", str(study_file), "--storage", url]
    cmd += ["--workers", str(workers), *(["--data", args.data] if args.data else [])]
    start = time.perf_counter()
    err_path = work / "launch.err"
    # The connections this run really holds on the server (not the bouncer's clients).
    sampler = ServerConnections(f"{args.pg}/postgres", db, every=0.2) if db else None
    with open(err_path, "w") as err, sampler or contextlib.nullcontext():
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONPATH": doc.python_path()},
            start_new_session=True,
        )
        try:
            facts["launch_rc"] = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            # As Ctrl-C: the launcher stops its workers (own sessions) and fails their trials.
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            facts["launch_rc"] = "timeout"
    launch_err = err_path.read_text(errors="replace")
    if db:
        facts["peak_connections"] = sampler.peak if sampler else 0
    facts["launch_seconds"] = round(time.perf_counter() - start, 1)
    try:
        if facts["launch_rc"] not in (0, "timeout") and "error:" in launch_err:
            # The launcher refused (no data, bad URL): its one-line error, not a traceback later.
            raise SystemExit(f"launch failed: {launch_err.strip().splitlines()[-1]}")
        # Read the results from the server itself, not through a bouncer that may be stuck.
        storage = open_storage(f"{args.pg}/{db}" if db else url)
        study = optuna.load_study(study_name=name, storage=storage)
        facts.update(
            measure(study, workers=workers, sleep=5 * args.epoch_seconds, target=args.n_trials)
        )
        if db:
            size = pg_admin(args.pg, f"SELECT pg_database_size('{db}')")[0][0]
            facts["db_mb"] = round(int(size) / 2**20, 1)
        # Release the storage's pooled connections before the database is dropped.
        storage.engine.dispose()
    finally:
        logs = [p.read_text(errors="replace") for p in (work / "runs" / "logs").rglob("*.log")]
        lines = [line for text in [*logs, launch_err] for line in text.splitlines()]
        error_lines = [line for line in lines if ERROR_PATTERN.search(line)]
        facts["connection_errors"] = len(error_lines)
        facts["first_error"] = error_lines[0][:200] if error_lines else ""
        if bouncer:
            (work / "pgbouncer.log").write_text(bouncer.log())
            bouncer.close()
        if db:
            pg_admin(args.pg, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    return facts


HEADER = (
    *("storage", "workers", "finished/target", "trials/s", "worker ms/trial not sleeping"),
    *("in-trial overhead ms (median)", "read whole study ms", "database MB", "lost"),
    *("duplicate (overshoot)", "FAIL", "retries", "RUNNING left", "connection error lines"),
    "PG server connections: sampled peak; at most 4/worker of max_connections, or the PgBouncer "
    "pool",
    *("launch rc", "launch wall s"),
)
# The table's figures after storage and workers, as run_one's facts name them.
FIGURES = (
    *("trials_per_s", "overhead_ms_per_trial", "in_trial_overhead_ms", "read_study_ms", "db_mb"),
    *("lost", "overshoot", "failed", "retries", "running_left"),
)


def row(kind: str, workers: int, facts: dict[str, Any], pool_size: int) -> list[Any]:
    if kind == "postgres":
        conn = (
            f"peak {facts['peak_connections']}; at most {facts['connections_needed']} "
            f"of {facts['max_connections']} ({facts['connections_in_use_before']} in use before)"
        )
    else:
        conn = (
            f"peak {facts['peak_connections']}; pool {pool_size}" if kind == "pgbouncer" else "n/a"
        )
    return [
        *(kind, workers, f"{facts.get('finished', 0)}/{facts['target']}"),
        *(facts.get(key, "-") for key in FIGURES),
        *(facts["connection_errors"], conn, facts["launch_rc"], facts["launch_seconds"]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=(__doc__ or "").split("\n")[0]
    )
    add = parser.add_argument
    add("--postgres", default="8,16,32", help="worker counts on PostgreSQL ('' for none)")
    add("--pgbouncer", default="", help="worker counts through PgBouncer ('' for none)")
    add("--pool-size", type=int, default=20, help="PgBouncer's server connections (default 20)")
    add("--sqlite", default="2,4", help="worker counts on the SQLite default ('' for none)")
    add("--n-trials", type=int, default=300)
    add("--epoch-seconds", type=float, default=0.02)
    add("--pg", default="postgresql://postgres@127.0.0.1:5432", help="server URL, no database")
    add("--timeout", type=float, default=600)
    add("--data", default=os.environ.get("TUNER_DATA"))
    add("--sampler-trials", default="", help="study sizes to time TPE at, e.g. 1000,5000")
    add("--doc", type=Path, help="write the section to PATH instead of printing it")
    args = parser.parse_args()
    kinds = (("postgres", args.postgres), ("pgbouncer", args.pgbouncer), ("sqlite", args.sqlite))
    plan = [(kind, int(n)) for kind, counts in kinds for n in counts.split(",") if n]
    load_start = doc.load_average()
    rows, notes = [], []
    for kind, workers in plan:
        facts = run_one(kind, workers, args)
        print(facts, flush=True)
        rows.append(row(kind, workers, facts, args.pool_size))
        if facts["first_error"]:
            notes.append(
                f"- {kind} x{workers}: first connection error line: `{facts['first_error']}`"
            )
    sampler_sizes = [int(n) for n in args.sampler_trials.split(",") if n]
    if sampler_sizes:
        notes += [
            *([""] if notes else []),
            "TPE (mnist_mlp's sampler: multivariate, group) time to sample one trial, "
            "median of 5, in memory:",
            "",
            *doc.markdown_table(
                ["finished trials in the study", "seconds per trial sampled"],
                [(size, f"{seconds:.3f}") for size, seconds in sampler_seconds(sampler_sizes)],
            ),
        ]
    body = [
        "Synthetic mnist_mlp study (TPE multivariate, percentile pruner, 5 reports per "
        f"trial), {args.n_trials} trials per run, {args.epoch_seconds} s sleep per epoch "
        f"({5 * args.epoch_seconds:.2f} s per full trial).",
        "",
        *doc.markdown_table(HEADER, rows),
        *([""] if notes else []),
        *notes,
    ]
    doc.finish("Storage at scale", module=MODULE, load_start=load_start, body=body, path=args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
