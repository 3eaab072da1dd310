"""Serve optuna-dashboard on a study's storage, in this process or beside the launcher's workers."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socketserver
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna
import optuna_dashboard
from optuna.artifacts import FileSystemArtifactStore

from tuner import optuna_internals
from tuner.errors import TunerError
from tuner.execution.lifeline import launcher_env
from tuner.execution.storage import artifact_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


class _ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a browser holding a connection open must not block shutdown


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would bury the launcher's progress line and the URL


ALL_INTERFACES = ("", "0.0.0.0")


def study_url(host: str, port: int, study: optuna.Study) -> str:
    """The study page's URL; for a wildcard host, this host's loopback one, and it says so."""
    shown = "127.0.0.1" if host in ALL_INTERFACES else host
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}/dashboard/studies/{optuna_internals.study_id(study)}"
    return f"{url} (listening on all interfaces)" if host in ALL_INTERFACES else url


def serve(study: optuna.Study, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the dashboard for the study's storage until interrupted; print the URL once bound."""
    # The reporter attaches its files to the study in this store; the dashboard lists them.
    artifacts = FileSystemArtifactStore(artifact_dir())
    # The study's own storage: Optuna's cache layer over the RDBStorage, so a large study's
    # finished trials are read once, not on every refresh.
    app = optuna_dashboard.wsgi(optuna_internals.study_storage(study), artifact_store=artifacts)
    try:
        server = make_server(
            host, port, app, server_class=_ThreadedServer, handler_class=_QuietHandler
        )
    except OSError as e:
        raise TunerError(
            f"cannot listen on {host}:{port}: {e.strerror or e}; pick another --port"
        ) from None
    # Port 0 asks the system for a free port: print the one we got.
    print(
        f"dashboard for study {study.study_name!r}: {study_url(host, server.server_port, study)}",
        flush=True,
    )
    # The launcher stops us with SIGTERM, or the kernel with SIGHUP when the launcher dies.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def check_port(port: int, *, option: str = "--port") -> int:
    if not 0 <= port <= 65535:
        raise TunerError(f"{option} must be between 0 and 65535, got {port}")
    return port


@contextlib.contextmanager
def start_beside(study: str, url: str, *, port: int, log_dir: Path) -> Iterator[str]:
    """Run `python -m tuner.dashboard` in a subprocess for the duration of the block.

    Yields the line with the dashboard's URL once it listens; its output goes to
    log_dir/dashboard.log so it never mixes with the progress line. A dashboard that cannot
    start (port taken) is a TunerError before any worker starts.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "dashboard.log"
    # The storage URL travels in the environment: a password never shows in `ps`.
    env = {**os.environ, **launcher_env(), "TUNER_STORAGE": url, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "tuner.dashboard", "--study", study, "--port", str(port)]
    with open(log, "w") as out:
        # Its own session: Ctrl-C on the launcher does not reach it; we stop it below, and it
        # stops itself if the launcher is killed (tuner.dashboard calls stop_with_launcher).
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield _wait_for_url(proc, log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_url(proc: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        match = re.search(r"^dashboard for study .*http://\S+$", text, re.MULTILINE)
        if match:
            return match.group(0)
        if proc.poll() is not None:
            lines = [line for line in text.splitlines() if line.strip()]
            last = lines[-1].removeprefix("error: ") if lines else f"exit code {proc.returncode}"
            raise TunerError(f"dashboard did not start: {last} (see {log})")
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise TunerError(f"dashboard did not start within {START_TIMEOUT_SECONDS}s (see {log})")
