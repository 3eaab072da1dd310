"""Run worker processes on this host and show one progress line for the whole study.

Each worker is `python -m tuner.execution.loop --index I` in its own process session, its output in
runs/logs/<study>/worker-I.log, so several workers' Keras and TensorFlow logs never interleave
on the terminal. Ctrl-C is forwarded once to every worker; each marks its trial FAIL, and any
trial a worker could not close is failed here, so none is left RUNNING.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tuner.errors import TunerError
from tuner.execution.storage import (
    DEFAULT_DIR,
    fail_and_retry,
    is_connection_error,
    open_storage,
)
from tuner.study import StudySpec, record
from tuner.study.record import StudyCounts, best_trial, count_trials

POLL_SECONDS = 2.0
STOP_GRACE_SECONDS = 60


def visible_gpus() -> list[str]:
    """GPU ids this host lets us use, without importing TensorFlow.

    $CUDA_VISIBLE_DEVICES, when set, is the list (empty or -1: none); else nvidia-smi's indices.
    """
    restricted = os.environ.get("CUDA_VISIBLE_DEVICES")
    if restricted is not None:
        ids = [g.strip() for g in restricted.split(",") if g.strip()]
        # CUDA stops at the first invalid entry; -1 is the usual way to hide every GPU.
        return list(itertools.takewhile(lambda g: g != "-1", ids))
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return (
        [line.strip() for line in out.stdout.splitlines() if line.strip()]
        if out.returncode == 0
        else []
    )


def worker_slots(*, workers: int, gpus: str | None, per_gpu: int = 1) -> list[dict[str, str]]:
    """The environment of each worker process: its GPU, or its share of CPU threads.

    `gpus` is None (CPU workers), "all", or a list like "0,1"; each GPU gets `per_gpu` processes.
    With no GPU visible at all, it says so in one line and falls back to `workers` CPU workers.
    """
    if workers < 1 or per_gpu < 1:
        raise TunerError(
            f"--workers and --workers-per-gpu must be at least 1, got {workers} and {per_gpu}"
        )
    if gpus is not None:
        available = visible_gpus()
        if gpus.strip() == "all":
            chosen = available
        else:
            chosen = [g.strip() for g in gpus.split(",") if g.strip()]
            if not chosen:
                raise TunerError(f"--gpus takes 'all' or a list like 0,1; got {gpus!r}")
        if available:
            missing = [g for g in chosen if g not in available]
            if missing:
                raise TunerError(
                    f"--gpus {gpus}: GPU {', '.join(missing)} not visible here "
                    f"(visible: {', '.join(available)})"
                )
            return [
                # Memory on demand, so K workers can share one GPU (TensorFlow and JAX).
                {
                    "CUDA_VISIBLE_DEVICES": gpu,
                    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
                    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                }
                for gpu in chosen
                for _ in range(per_gpu)
            ]
        print(
            f"no GPU visible (--gpus {gpus}); running {workers} CPU worker"
            f"{'s' if workers != 1 else ''} instead",
            file=sys.stderr,
        )
    threads = max(1, (os.cpu_count() or 1) // workers)
    return [{"CUDA_VISIBLE_DEVICES": "", "TUNER_THREADS": str(threads)} for _ in range(workers)]


def log_dir_of(spec: StudySpec) -> Path:
    """Where a study's worker (and dashboard) logs go on this host."""
    return DEFAULT_DIR / "logs" / spec.name


def run_pool(spec: StudySpec, url: str, data_path: str | None, slots: list[dict[str, str]]) -> int:
    """Start one worker per slot, show progress until they finish, return an exit code."""
    # Ctrl-C and `kill` both stop the workers cleanly, also when a shell started us in the
    # background with SIGINT ignored (which children would otherwise inherit).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    log_dir = log_dir_of(spec)
    log_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(url))
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []
    for index, slot in enumerate(slots):
        # The storage URL travels in the environment: a password never shows in `ps`.
        env = {
            **os.environ,
            **slot,
            "TUNER_STORAGE": url,
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
        logs.append(log_dir / f"worker-{index}.log")
        with open(logs[-1], "w") as out:
            procs.append(
                subprocess.Popen(
                    cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    progress = Progress(study)
    pids = ", ".join(str(p.pid) for p in procs)
    print(
        f"{len(procs)} workers (pids {pids}) on study {spec.name!r}; logs in {log_dir}/",
        file=sys.stderr,
    )
    try:
        while live := [p for p in procs if p.poll() is None]:
            progress.show()
            try:  # wake up as soon as a worker exits, not at the next poll
                live[0].wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        progress.end()
        print("stopping workers...", file=sys.stderr)
        _stop(procs)
        _fail_orphans(study, procs, reason="interrupted", retry=False)
        progress.summary()
        return 130
    progress.end()
    _fail_orphans(study, procs, reason="worker exited during the trial", retry=True)
    for proc, log in zip(procs, logs):
        if proc.returncode != 0:
            print(
                f"worker exited with code {proc.returncode}: {_last_line(log)} (see {log})",
                file=sys.stderr,
            )
    counts = progress.summary()
    target = record.target_trials(study, spec.n_trials)
    # A worker that died (killed, out of memory) is reported above; the run succeeded if the
    # study still reached its target, which is what heartbeats and retries are for.
    return 0 if counts.finished >= target else 1


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _fail_orphans(
    study: optuna.Study, procs: list[subprocess.Popen], *, reason: str, retry: bool
) -> None:
    """Fail RUNNING trials owned by our (now exited) workers, e.g. after a kill, without
    waiting for the heartbeat grace period; re-queue them unless the user is stopping. The
    reason shows in the dashboard like a worker's own."""
    host = socket.gethostname()
    ours = {f"{host}:{p.pid}" for p in procs}
    try:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if record.worker(t) not in ours:
                continue
            study._storage.set_trial_user_attr(t._trial_id, record.FAIL_REASON, reason)
            if retry:
                fail_and_retry(study, t._trial_id)
            else:
                study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
    except Exception as e:
        if not is_connection_error(e):
            raise
        # Unreachable now: the heartbeat check fails these trials once the database is back.
        print(
            "storage unreachable; trials of stopped workers are failed by the heartbeat check later",
            file=sys.stderr,
        )


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class Progress:
    """One line for the whole study: done of target, pruned, failed, best feasible, rate."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.start = time.monotonic()
        self.start_finished = count_trials(study.get_trials(deepcopy=False)).finished
        self.tty = sys.stderr.isatty()
        self._last = ""
        self._last_print = 0.0

    def line(self) -> tuple[str, StudyCounts]:
        trials = self.study.get_trials(deepcopy=False)
        counts = count_trials(trials)
        target = record.target_trials(self.study, counts.finished)
        best, feasible = best_trial(self.study, trials)
        if best is None:
            best_text = "best -"
        else:
            best_text = (
                f"best {'feasible' if feasible else 'INFEASIBLE'} {best.value:.4f} (#{best.number})"
            )
        elapsed = time.monotonic() - self.start
        rate = (counts.finished - self.start_finished) / max(elapsed, 1e-9) * 60
        text = (
            f"[{self.study.study_name}] {_bar(counts.finished, target)} {counts.finished}/{target} done: "
            f"{counts.complete} complete, "
            f"{counts.pruned} pruned, {counts.failed} failed, {counts.running} running | "
            f"{counts.feasible} feasible, {best_text} | {_clock(elapsed)}, {rate:.1f} trials/min"
        )
        return text, counts

    def show(self) -> None:
        try:
            text, _ = self.line()
        except Exception as e:
            if not is_connection_error(e):
                raise
            text = f"[{self.study.study_name}] storage unreachable; workers retry until it is back"
        if self.tty:
            # A line wider than the terminal wraps, and \r would then redraw only its last row.
            text = text[: shutil.get_terminal_size().columns - 1]
            print("\r" + text.ljust(len(self._last)), end="", file=sys.stderr, flush=True)
            self._last = text
        elif (
            text.split("|")[0] != self._last.split("|")[0]
            or time.monotonic() - self._last_print > 30
        ):
            print(text, file=sys.stderr, flush=True)
            self._last, self._last_print = text, time.monotonic()

    def end(self) -> None:
        if self.tty and self._last:
            print(file=sys.stderr)

    def summary(self) -> StudyCounts:
        text, counts = self.line()
        print(text)
        if counts.prune_reasons:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(counts.prune_reasons.items()))
            print(f"pruned by reason: {reasons}")
        return counts


def _bar(done: int, target: int, width: int = 20) -> str:
    filled = width if target <= 0 else min(width, done * width // target)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
