"""Run worker processes on this host, one per slot, and show the study's progress line.

Each worker is `python -m tuner.execution.loop --index I` in its own process session, its output in
runs/logs/<study>/worker-I.log, so several workers' Keras and TensorFlow logs never interleave
on the terminal. Ctrl-C is forwarded once to every worker; each marks its trial FAIL
("interrupted"), and any trial a worker could not close is failed here ("interrupted (by the
pool)"), so none is left RUNNING. Workers also stop if this process dies without stopping them
(SIGKILL): see tuner.execution.loop.

`supervise` is the part every kind of worker group shares (these processes, or Ray actors in
tuner.execution.ray_pool): the progress line, stopping on Ctrl-C, failing orphaned trials, and
the exit code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

import optuna
from optuna.trial import TrialState

from tuner import optuna_internals
from tuner.execution.heartbeat import WORKER_EXITED, fail_and_retry
from tuner.execution.lifeline import launcher_env
from tuner.execution.progress import Progress
from tuner.execution.storage import DEFAULT_DIR, is_connection_error, open_storage
from tuner.study import StudySpec, record

POLL_SECONDS = 2.0
STOP_GRACE_SECONDS = 60
INTERRUPTED_BY_POOL = "interrupted (by the pool)"  # a worker that stops cleanly writes its own


class Workers(Protocol):
    """A started group of workers on one study, as `supervise` drives it."""

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds, less if a worker ends; False once all have ended."""
        ...

    def stop(self) -> None:
        """Interrupt every worker (each fails its trial "interrupted"), kill the stragglers."""
        ...

    def owners(self) -> set[str]:
        """The names the workers record on their trials ("worker" attribute: host:pid)."""
        ...

    def report_exits(self) -> None:
        """Print one line per worker that ended badly."""
        ...


def log_dir_of(spec: StudySpec) -> Path:
    """Where a study's worker (and dashboard) logs go on this host."""
    return DEFAULT_DIR / "logs" / spec.name


def catch_stop_signals() -> None:
    """Ctrl-C and `kill` both stop the workers cleanly, also when a shell started us in the
    background with SIGINT ignored (which children would otherwise inherit)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def run_pool(spec: StudySpec, url: str, data_path: str | None, slots: list[dict[str, str]]) -> int:
    """Start one worker per slot, show progress until they finish, return an exit code."""
    catch_stop_signals()
    log_dir = log_dir_of(spec)
    log_dir.mkdir(parents=True, exist_ok=True)
    storage = open_storage(url)
    study = optuna.load_study(study_name=spec.name, storage=storage)
    workers = _Processes()
    for index, slot in enumerate(slots):
        # The storage URL travels in the environment: a password never shows in `ps`.
        env = {
            **os.environ,
            **slot,
            "TUNER_STORAGE": url,
            **launcher_env(),  # workers stop when the launcher is gone
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [
            sys.executable,
            "-m",
            "tuner.execution.loop",
            "--study",
            spec.path,
            "--index",
            str(index),
        ]
        if data_path:
            cmd += ["--data", data_path]
        workers.logs.append(log_dir / f"worker-{index}.log")
        with open(workers.logs[-1], "w") as out:
            workers.procs.append(
                subprocess.Popen(
                    cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    pids = ", ".join(str(p.pid) for p in workers.procs)
    print(
        f"{len(workers.procs)} workers (pids {pids}) on study {spec.name!r}; logs in {log_dir}/",
        file=sys.stderr,
    )
    return supervise(spec, study, storage, workers)


def supervise(
    spec: StudySpec, study: optuna.Study, storage: optuna.storages.RDBStorage, workers: Workers
) -> int:
    """Show progress until the workers end, or stop them on Ctrl-C; return an exit code."""
    progress = Progress(study, goal=spec.goal is not None)
    try:
        while True:
            progress.show()
            if not workers.wait(POLL_SECONDS):
                break
    except KeyboardInterrupt:
        progress.end()
        print("stopping workers...", file=sys.stderr)
        workers.stop()
        fail_orphans(study, storage, workers.owners(), reason=INTERRUPTED_BY_POOL, retry=False)
        progress.summary()
        return 130
    progress.end()
    fail_orphans(study, storage, workers.owners(), reason=WORKER_EXITED, retry=True)
    workers.report_exits()
    counts = progress.summary()
    target = record.target_trials(study, spec.n_trials)
    # A worker that died (killed, out of memory) is reported above; the run succeeded if the
    # study still reached its target, which is what heartbeats and retries are for.
    return 0 if counts.finished >= target else 1


class _Processes:
    """Worker processes on this host, each with its log file."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def wait(self, timeout: float) -> bool:
        live = [p for p in self.procs if p.poll() is None]
        if live:
            # Wake up as soon as a worker exits, not at the next poll.
            with contextlib.suppress(subprocess.TimeoutExpired):
                live[0].wait(timeout=timeout)
        return bool(live)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def owners(self) -> set[str]:
        host = socket.gethostname()
        return {f"{host}:{p.pid}" for p in self.procs}

    def report_exits(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.returncode != 0:
                print(
                    f"worker exited with code {proc.returncode}: {_last_line(log)} (see {log})",
                    file=sys.stderr,
                )


def fail_orphans(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    owners: set[str],
    *,
    reason: str,
    retry: bool,
) -> None:
    """Fail RUNNING trials owned by our (now ended) workers, e.g. after a kill, without
    waiting for the heartbeat grace period; re-queue them unless the user is stopping. The
    reason shows in the dashboard like a worker's own."""
    try:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if record.worker(t) not in owners:
                continue
            orphan = optuna_internals.trial_id(t)
            if retry:
                fail_and_retry(study, storage, orphan, reason=reason)
            else:
                storage.set_trial_user_attr(orphan, record.FAIL_REASON, reason)
                storage.set_trial_state_values(orphan, state=TrialState.FAIL)
    except Exception as e:
        if not is_connection_error(e):
            raise
        # Unreachable now: the heartbeat check fails these trials once the database is back.
        print(
            "storage unreachable; "
            "trials of stopped workers are failed by the heartbeat check later",
            file=sys.stderr,
        )


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
