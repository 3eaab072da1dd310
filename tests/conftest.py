"""Shared fixtures: the real MNIST file, tiny study files, PostgreSQL databases, CLI runners."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"

# A small config with every layer type of the space, for fits that must be quick.
SMALL_CONFIG = {
    "layers": [32],
    "activation": "relu",
    "dropout": 0.2,
    "dropout_position": "all",
    "loss": "categorical_crossentropy",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 64,
    "epochs": 3,
    "rescale": True,
    "input_noise": 0.1,
    "input_dropout": 0.0,
    "shift": 0.1,
    "l2": 0.0,
}

TINY_STUDY = """
name = "{name}"
n_trials = {n_trials}
[data]
train_rows = 600
validation_rows = [6000, 7000]
[constraints]
min_val_accuracy = 0.5
max_gap = 0.2
[sampler]
name = "tpe"
seed = 3
[space]
n_layers = {{ type = "int", low = 1, high = 2 }}
units = {{ type = "categorical", choices = [16, 32] }}
learning_rate = {{ type = "float", low = 1e-3, high = 1e-2, log = true }}
epochs = {epochs}
rescale = true
"""


@pytest.fixture(scope="session")
def mnist_path() -> str:
    """The real MNIST file: $TUNER_DATA, else ../shared/data/mnist.npz beside the repository (CI
    and sessions), else the product's default, Keras's download, through Keras's own cache."""
    if "TUNER_DATA" in os.environ or SHARED_MNIST.is_file():
        path = Path(os.environ.get("TUNER_DATA", SHARED_MNIST))
        assert path.is_file(), f"real MNIST not found at {path}; set TUNER_DATA to a mnist.npz"
        return str(path)
    import keras

    keras.datasets.mnist.load_data()  # downloads once into ~/.keras/datasets (or $KERAS_HOME)
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    cached = [p / "datasets" / "mnist.npz" for p in (home, Path("/tmp/.keras"))]
    found = [p for p in cached if p.is_file()]
    assert found, f"Keras downloaded MNIST, but not to {cached[0]}"
    return str(found[0])


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module's tests (tests/browser.py)."""
    from browser import start_chrome

    driver = start_chrome()
    yield driver
    driver.quit()


@pytest.fixture
def tiny_study(tmp_path):
    """Write a tiny, fast study file and return its path."""

    def make(name: str = "tiny", n_trials: int = 4, epochs: int = 1, extra: str = "") -> str:
        path = tmp_path / f"{name}.toml"
        path.write_text(TINY_STUDY.format(name=name, n_trials=n_trials, epochs=epochs) + extra)
        return str(path)

    return make


def run_module(module: str, *args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    """Run `python -m module args` as a user would, in `cwd`."""
    full_env = {k: v for k, v in os.environ.items() if k != "TUNER_STORAGE"}  # default storage
    full_env.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(condition, *, timeout: float, what: str):
    """Poll `condition()` until it returns something true, and return that; fail on timeout.
    A study or table that does not exist yet (KeyError, TunerError) counts as not yet."""
    from tuner.errors import TunerError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (KeyError, TunerError):
            result = None
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def is_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def worker_pids(trials) -> set[int]:
    """The worker processes (the `worker` attribute, host:pid) that ran these trials."""
    return {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in trials}


def release_workers_in_step(url: str, study: str, log_dir: Path, n_workers: int) -> None:
    """Hold the study's trial budget until `n_workers` workers have started their loop, then
    let them go: each claims a trial, and none can run the whole study before the last is up.
    Call once the launcher has created the study (it takes the same lock to do so)."""
    import optuna

    from tuner.execution.budget import BudgetLock

    def started() -> int:
        logs = log_dir.glob("worker-*.log")
        return sum(" on study " in log.read_text(errors="replace") for log in logs)

    with BudgetLock(url, study).hold():
        assert optuna.load_study(study_name=study, storage=url).trials == [], "too late"
        wait_for(lambda: started() >= n_workers, timeout=180, what=f"{n_workers} workers")


def launch_in_step(
    *args: str, cwd: Path, url: str, study: str, n_workers: int, timeout: int = 300
) -> subprocess.CompletedProcess:
    """`python -m tuner.launch ARGS` (which must name --storage url and --workers n_workers)
    with every worker claiming a trial (release_workers_in_step); returns when it is done."""
    out, err = cwd / "launch.out", cwd / "launch.err"
    for old in (cwd / "runs" / "logs" / study).glob("worker-*.log"):
        old.unlink()  # an earlier launch's "on study" lines must not count
    env = {k: v for k, v in os.environ.items() if k != "TUNER_STORAGE"}
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuner.launch", *args],
            cwd=cwd,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    try:
        wait_for(
            lambda: "finished trials done" in err.read_text() or proc.poll() is not None,
            timeout=120,
            what="the launcher to create the study",
        )
        assert proc.poll() is None, err.read_text()
        release_workers_in_step(url, study, cwd / "runs" / "logs" / study, n_workers)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())


# Short heartbeats so that a dead worker's trial is failed within seconds, not a minute.
FAST_HEARTBEAT = {"TUNER_HEARTBEAT_SECONDS": "1", "TUNER_GRACE_SECONDS": "3"}

# --- PostgreSQL -------------------------------------------------------------------------------
# The machine's cluster (.ci/run starts it): 127.0.0.1:5432, user postgres, trust auth.
PG_HOST, PG_PORT, PG_ADMIN_USER = "127.0.0.1", 5432, "postgres"


def _admin_connect(**kwargs):
    import psycopg2

    params = {
        "host": PG_HOST,
        "port": PG_PORT,
        "user": PG_ADMIN_USER,
        "dbname": "postgres",
        "connect_timeout": 10,
        **kwargs,
    }
    try:
        conn = psycopg2.connect(**params)
    except psycopg2.OperationalError as e:
        pytest.fail(
            f"PostgreSQL not reachable at {params['host']}:{params['port']} "
            f"(.ci/run starts it): {str(e).strip()}"
        )
    conn.autocommit = True
    return conn


def _admin_execute(sql: str, **connect) -> None:
    conn = _admin_connect(**connect)  # no `with conn`: psycopg2 would open a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def create_database(name: str, **connect) -> None:
    _admin_execute(f'CREATE DATABASE "{name}"', **connect)


def drop_database(name: str, **connect) -> None:
    # FORCE: workers a failed test left behind must not keep the database alive.
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', **connect)


@pytest.fixture
def pg_url():
    """A fresh database on the local PostgreSQL, dropped afterwards, as a bare postgresql:// URL."""
    name = f"tuner_test_{secrets.token_hex(4)}"
    create_database(name)
    try:
        yield f"postgresql://{PG_ADMIN_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        drop_database(name)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of this test run, on a free port, with password auth.

    The machine's cluster trusts every local connection, so a wrong password cannot fail there;
    and restarting it would cut off everyone else using it. This one is ours to break.
    """

    user = "tuner"
    password = "right-" + secrets.token_hex(6)

    def __init__(self) -> None:
        found = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
        )
        if not found:
            pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="tuner-pg-"))
        with socket.socket() as s:
            s.bind((PG_HOST, 0))
            self.port = s.getsockname()[1]
        (self.root / "pw").write_text(self.password + "\n")
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(self.root, "postgres")
            shutil.chown(self.root / "pw", "postgres")
        self._pg(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            self.user,
            "-A",
            "scram-sha-256",
            f"--pwfile={self.root / 'pw'}",
            "--no-sync",
        )
        self.start()
        create_database(
            "tuner", host=PG_HOST, port=self.port, user=self.user, password=self.password
        )

    def _pg(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={PG_HOST}"
        self._pg(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            options,
            action,
            *args,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self, *, downtime: float = 0.0) -> None:
        """Fast shutdown (as `pg_ctlcluster ... restart` does: clients are cut off), an optional
        pause with no server at all, then start again."""
        self._ctl("stop", "-m", "fast")
        time.sleep(downtime)
        self.start()

    def url(self, *, password: str | None = None, database: str = "tuner") -> str:
        return (
            f"postgresql://{self.user}:{password or self.password}@{PG_HOST}:{self.port}/{database}"
        )

    def new_database(self) -> str:
        name = f"tuner_test_{secrets.token_hex(4)}"
        create_database(name, host=PG_HOST, port=self.port, user=self.user, password=self.password)
        return self.url(database=name)

    def close(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def private_postgres():
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()
