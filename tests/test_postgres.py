"""Shared PostgreSQL storage, for real: parallel workers, a server restart, workers joining from
a second process group, and bad URLs. (A worker killed mid-fit, the launcher killed, and two
launches at once: tests/test_faults.py.)

Each test gets its own database (fixtures in conftest.py). Most tests use a `[synthetic]`
study (tuner/synthetic.py): the worker, pool and storage code is the real code under test, but
trials sleep instead of training, so forty of them take seconds, not minutes. One test runs
the real Keras objective on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import ROOT, run_module, wait_for
from optuna.trial import TrialState

from tuner.execution.budget import BudgetLock
from tuner.execution.heartbeat import CUT_OFF
from tuner.execution.storage import open_storage
from tuner.study.record import count_trials

SYNTHETIC_STUDY = """
name = "{name}"
n_trials = {n_trials}
[synthetic]
epoch_seconds = {epoch_seconds}
[sampler]
name = "tpe"
seed = 7
[space]
n_layers = {{ type = "int", low = 1, high = 3 }}
units = {{ type = "categorical", choices = [16, 32, 64] }}
learning_rate = {{ type = "float", low = 1e-4, high = 1e-1, log = true }}
epochs = {epochs}
"""


def synthetic_study(
    tmp_path: Path, *, n_trials: int, epochs: int, epoch_seconds: float, name: str = "synth"
) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        SYNTHETIC_STUDY.format(
            name=name, n_trials=n_trials, epochs=epochs, epoch_seconds=epoch_seconds
        )
    )
    return str(path)


def load(url: str, name: str = "synth") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def start(module: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    """Start a CLI in its own process group, as a second terminal or host would."""
    cwd.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("TUNER_STORAGE", None)
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _out, err = proc.communicate()
        pytest.fail(f"{proc.args} did not finish in {timeout}s:\n{err[-3000:]}")


def assert_exact_budget(study: optuna.Study, target: int) -> list:
    trials = study.get_trials(deepcopy=False)
    counts = count_trials(trials)
    assert counts.finished == target, f"{counts.finished} finished trials, wanted exactly {target}"
    assert counts.running == 0 and counts.waiting == 0, counts
    assert len({t.number for t in trials}) == len(trials), "trial numbers must be unique"
    return trials


def test_four_workers_finish_exactly_40_trials(tmp_path, pg_url, mnist_path):
    study_file = synthetic_study(tmp_path, n_trials=40, epochs=3, epoch_seconds=0.05)
    # --gpus all with CUDA hiding every GPU: one line, then the 4 CPU workers asked for.
    result = run_module(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        pg_url,
        "--gpus",
        "all",
        "--workers",
        "4",
        "--data",
        mnist_path,
        cwd=tmp_path,
        env={"CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "GPU" in line] == [
        "no GPU visible (--gpus all); running 4 CPU workers instead"
    ]
    assert "4 workers (pids" in result.stderr
    assert "40/40 done" in result.stdout
    trials = assert_exact_budget(load(pg_url), 40)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    workers = {t.user_attrs["worker"] for t in trials}
    assert 2 <= len(workers) <= 4, workers
    assert "postgresql+psycopg2://postgres@127.0.0.1:5432/tuner_test_" in result.stderr


def test_postgres_restart_mid_trial_the_worker_requeues_it(tmp_path, private_postgres, mnist_path):
    url = private_postgres.new_database()
    study_file = synthetic_study(tmp_path, n_trials=8, epochs=4, epoch_seconds=1.0)
    # A grace far longer than the outage: the trial cut off must be re-queued by its own
    # worker's outage path, not by another worker's heartbeat check.
    proc = start(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        url,
        "--workers",
        "2",
        "--data",
        mnist_path,
        cwd=tmp_path,
        env={"TUNER_HEARTBEAT_SECONDS": "1", "TUNER_GRACE_SECONDS": "60"},
    )

    def trials_in_their_second_epoch():  # 3 s of 4 still ahead: in flight when we stop
        study = load(url)
        if count_trials(study.get_trials(deepcopy=False)).finished < 2:
            return None
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return [t for t in running if len(t.intermediate_values) == 1]

    in_flight = wait_for(trials_in_their_second_epoch, timeout=120, what="a trial in flight")
    private_postgres.restart(downtime=3)  # 3 s with no server at all, then back
    out, err = finish(proc)

    assert proc.returncode == 0, err
    assert "8/8 done" in out
    trials = assert_exact_budget(load(url), 8)
    logs = "".join(p.read_text() for p in (tmp_path / "runs" / "logs" / "synth").glob("*.log"))
    assert "cut off by the outage: failed and re-queued" in logs
    for t in in_flight:
        cut = trials[t.number]
        assert cut.state == TrialState.FAIL
        assert cut.user_attrs.get("fail_reason") == CUT_OFF, cut.user_attrs
        retries = [r for r in trials if r.system_attrs.get("failed_trial") == t.number]
        assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, retries
        assert retries[0].params == cut.params
    failed = [t for t in trials if t.state == TrialState.FAIL]
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    assert all(t.number in retried for t in failed), "every trial cut off must be retried"
    print(
        f"\nrestart test: trial(s) {[t.number for t in in_flight]} in flight, failed and "
        f"re-queued by their worker ({len(failed)} failed in all); 8/8 finished, 0 lost"
    )


def test_worker_cli_joins_from_a_second_process_group(tmp_path, pg_url, mnist_path):
    study_file = synthetic_study(tmp_path, n_trials=16, epochs=3, epoch_seconds=0.2)
    created = run_module(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        pg_url,
        "--create-only",
        "--data",
        mnist_path,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert load(pg_url).trials == []
    # Idempotent: running the creation step again leaves the study as it is.
    again = run_module(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        pg_url,
        "--create-only",
        "--n-trials",
        "99",
        "--data",
        mnist_path,
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert load(pg_url).user_attrs["target_trials"] == 16

    join = ("tuner.worker", "--study", study_file, "--storage", pg_url, "--workers", "2")
    first = start(*join, cwd=tmp_path / "host_a")
    wait_for(
        lambda: count_trials(load(pg_url).get_trials(deepcopy=False)).finished >= 2,
        timeout=120,
        what="the first group to finish 2 trials",
    )
    # The first group waits at the budget while the second starts: both then share the rest.
    with BudgetLock(pg_url, "synth").hold():
        second = start(*join, cwd=tmp_path / "host_b")
        logs = tmp_path / "host_b" / "runs" / "logs" / "synth"
        wait_for(
            lambda: sum(" on study " in p.read_text() for p in logs.glob("worker-*.log")) == 2,
            timeout=120,
            what="the second group's workers",
        )
    _out_a, err_a = finish(first)
    out_b, err_b = finish(second)
    assert first.returncode == 0, err_a
    assert second.returncode == 0, err_b
    trials = assert_exact_budget(load(pg_url), 16)

    def owners(host: str) -> set[str]:
        logs = (tmp_path / host / "runs" / "logs" / "synth").glob("worker-*.log")
        return {
            line.split("worker ", 2)[2].split(" ")[0]
            for log in logs
            for line in log.read_text().splitlines()
            if " on study " in line
        }

    by_worker = [t.user_attrs["worker"] for t in trials]
    from_b = [w for w in by_worker if w in owners("host_b")]
    assert len(owners("host_a")) == 2 and len(owners("host_b")) == 2
    assert from_b, "the joining group should have run some trials"
    assert "16/16 done" in out_b


def test_real_keras_on_a_bare_postgresql_url_never_shows_the_password(
    tmp_path, pg_url, tiny_study, mnist_path
):
    # Trust auth accepts any password, so this one works, and must appear nowhere.
    secret = "s3cret-never-shown"
    url = pg_url.replace("postgres@", f"postgres:{secret}@")
    study_file = tiny_study(n_trials=2)
    launched = run_module(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        url,
        "--workers",
        "1",
        "--data",
        mnist_path,
        cwd=tmp_path,
    )
    assert launched.returncode == 0, launched.stderr
    study = optuna.load_study(study_name="tiny", storage=open_storage(url))
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 2
    assert all(
        0.0 < t.user_attrs["val_accuracy"] <= 1.0
        for t in finished
        if t.state == TrialState.COMPLETE
    )
    out = tmp_path / "best.json"
    exported = run_module(
        "tuner.export", "--study", study_file, "--storage", url, "--out", str(out), cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    payload = json.loads(out.read_text())
    assert payload["provenance"]["storage"].startswith(
        "postgresql+psycopg2://postgres:***@127.0.0.1"
    )
    logs = "".join(p.read_text() for p in (tmp_path / "runs" / "logs").rglob("*.log"))
    everything = (
        launched.stdout
        + launched.stderr
        + exported.stdout
        + exported.stderr
        + out.read_text()
        + logs
    )
    assert secret not in everything


@pytest.mark.parametrize("module", ["tuner.launch", "tuner.worker"])
def test_bad_storage_is_one_line_exit_2_password_redacted(
    tmp_path, private_postgres, tiny_study, mnist_path, module
):
    study_file = tiny_study()
    cases = [
        (
            private_postgres.url(password="hunter2-wrong"),
            'password authentication failed for user "tuner"',
        ),
        (
            "postgresql://tuner:hunter2@tuner-no-such-host.invalid:5432/tuner",
            "could not translate host name",
        ),
        (
            f"postgresql://postgres:hunter2@127.0.0.1:5432/tuner_no_such_db_{os.getpid()}",
            "does not exist (create the database first",
        ),
    ]
    for url, expected in cases:
        result = run_module(
            module, "--study", study_file, "--storage", url, "--data", mnist_path, cwd=tmp_path
        )
        assert result.returncode == 2, (url, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert expected in lines[0], lines[0]
        assert "hunter2" not in result.stderr + result.stdout
        assert ":***@" in lines[0]
    assert not (tmp_path / "runs").exists()
