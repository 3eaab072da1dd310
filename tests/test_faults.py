"""Faults a long study meets: a worker killed in the middle of a real fit (with the shipped
heartbeat settings), the launcher itself killed, two launches of one study at once, workers
racing for the budget's last trial, and a live trial outlasting the grace.

The real-objective kill waits out the shipped 60 s grace: it is the one slow test of the suite.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from claim_race import claim_in_race
from conftest import (
    FAST_HEARTBEAT,
    ROOT,
    is_alive,
    launch_in_step,
    release_workers_in_step,
    run_module,
    wait_for,
    worker_pids,
)
from optuna.trial import TrialState
from test_postgres import assert_exact_budget, load, start, synthetic_study

from tuner.execution.create import create_study
from tuner.execution.heartbeat import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HEARTBEAT_SECONDS,
    GRACE_ENV,
    HEARTBEAT_ENV,
)
from tuner.execution.storage import open_storage
from tuner.study import load_study_spec, record


def test_sigkill_of_a_worker_mid_fit_real_objective_shipped_heartbeat(
    tmp_path, pg_url, tiny_study, mnist_path
):
    study_file = tiny_study(n_trials=3, epochs=20)
    env = {k: v for k, v in os.environ.items() if k not in (HEARTBEAT_ENV, GRACE_ENV)}
    err = tmp_path / "launch.err"
    with open(err, "w") as stderr:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tuner.launch", "--study", study_file),
                *("--storage", pg_url, "--workers", "2", "--data", mnist_path),
            ],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    wait_for(lambda: "finished trials done" in err.read_text(), timeout=120, what="the study")
    study = load(pg_url, "tiny")

    def a_trial_mid_fit():  # at least one epoch behind it, ten ahead
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return next((t for t in running if 1 <= len(t.intermediate_values) <= 10), None)

    victim = wait_for(a_trial_mid_fit, timeout=240, what="a trial in the middle of its fit")
    os.kill(worker_pids([victim]).pop(), signal.SIGKILL)
    killed_at = time.time()
    _out, _ = proc.communicate(timeout=400)

    assert proc.returncode == 0, err.read_text()
    assert "worker exited with code -9" in err.read_text()
    trials = assert_exact_budget(load(pg_url, "tiny"), 3)
    killed = trials[victim.number]
    assert killed.state == TrialState.FAIL
    # Failed by a live worker's heartbeat check (Optuna's stale check writes no reason), not by
    # the pool at the end ("worker exited during the trial") or an outage: so no sooner than
    # the shipped grace after its last beat.
    assert "fail_reason" not in killed.user_attrs, killed.user_attrs
    fail_delay = killed.datetime_complete.timestamp() - killed_at
    assert fail_delay >= DEFAULT_GRACE_SECONDS - DEFAULT_HEARTBEAT_SECONDS, fail_delay
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retries[0].params == killed.params
    print(
        f"\nreal kill: trial #{victim.number} killed after {len(victim.intermediate_values)} "
        f"epochs, FAIL {fail_delay:.0f}s later, retried as #{retries[0].number}; 3/3 finished"
    )


def dashboard_pid(study_file: str) -> int:
    """The pid of the dashboard `launch --dashboard` started for this study file."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tuner.dashboard" in args and study_file.encode() in args:
            found.append(int(proc.name))
    assert len(found) == 1, f"one dashboard for {study_file}, found {found}"
    return found[0]


def test_sigkill_of_the_launcher_stops_its_workers_and_dashboard_and_a_relaunch_is_exact(tmp_path):
    # Trials of 2 minutes (4 epochs of 30 s), 6 of them: within the waits below no worker can
    # finish a trial, let alone the budget, so only the lifeline (SIGHUP when the launcher
    # dies) can stop them.
    study_file = synthetic_study(tmp_path, n_trials=6, epochs=4, epoch_seconds=30.0)
    url = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    err = tmp_path / "launch.err"
    with open(err, "w") as stderr:
        launcher = subprocess.Popen(
            [
                *(sys.executable, "-m", "tuner.launch", "--study", study_file, "--storage", url),
                *("--dashboard", "--dashboard-port", "0"),
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    wait_for(lambda: "finished trials done" in err.read_text(), timeout=120, what="the study")
    dashboard = dashboard_pid(study_file)
    release_workers_in_step(url, "synth", tmp_path / "runs" / "logs" / "synth", 2)
    study = load(url)

    def both_running():
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return running if len(worker_pids(running)) == 2 else None

    cut_off = wait_for(both_running, timeout=60, what="a trial running in each worker")
    pids = worker_pids(cut_off)
    launcher.kill()  # SIGKILL: no handler runs, nothing is forwarded
    launcher.wait()
    try:
        wait_for(lambda: not any(map(is_alive, pids)), timeout=20, what=f"workers {pids} to stop")
        wait_for(lambda: not is_alive(dashboard), timeout=30, what="the dashboard to stop")
    except BaseException:  # without the lifeline they would run on for minutes
        for pid in (*pids, dashboard):
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        raise
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for t in cut_off:
        assert trials[t.number].state == TrialState.FAIL
        assert trials[t.number].user_attrs["fail_reason"] == "launcher gone"

    finished = record.count_trials(trials).finished
    assert finished == 0, "no trial could finish: the workers stopped with the launcher"
    # The same study relaunched with short epochs (the study file names the synthetic timing).
    synthetic_study(tmp_path, n_trials=6, epochs=4, epoch_seconds=0.02)
    relaunch = run_module(
        "tuner.launch", "--study", study_file, "--storage", url, "--n-trials", "2", cwd=tmp_path
    )
    assert relaunch.returncode == 0, relaunch.stderr
    # The stopped launch's unrun trials are still owed, and the relaunch adds its 2.
    assert_exact_budget(load(url), 8)
    assert load(url).user_attrs["target_trials"] == 8 == max(6, finished) + 2


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_two_launches_at_once_each_add_their_trials(request, tmp_path, monkeypatch, storage):
    url = (
        request.getfixturevalue("pg_url")
        if storage == "postgresql"
        else f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    )
    study_file = synthetic_study(tmp_path, n_trials=4, epochs=1, epoch_seconds=0.01)
    spec = load_study_spec(study_file)
    (tmp_path / "runs").mkdir()
    open_storage(url, create=True)  # the tables; the study is created by the launches below
    # Both launches read the study, then meet here before writing the target: without the
    # budget lock around that read-modify-write both read 0 and write 0 + 4. With it, the
    # second waits for the lock, the first's wait here times out, and it goes on.
    barrier = threading.Barrier(2)
    write_target = record.write_target

    def write_after_meeting(study: optuna.Study, target: int) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=3)
        write_target(study, target)

    monkeypatch.setattr(record, "write_target", write_after_meeting)
    errors: list[BaseException] = []

    def launch() -> None:
        try:
            create_study(spec, url, n_trials=4, data_digest="d" * 64)
        except BaseException as e:
            errors.append(e)

    launches = [threading.Thread(target=launch) for _ in range(2)]
    for thread in launches:
        thread.start()
    for thread in launches:
        thread.join(timeout=60)
    assert not errors, errors
    assert load(url).user_attrs["target_trials"] == 8

    monkeypatch.undo()
    worker = start("tuner.worker", "--study", study_file, "--storage", url, cwd=tmp_path)
    _out, err = worker.communicate(timeout=240)
    assert worker.returncode == 0, err
    assert_exact_budget(load(url), 8)


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_a_claim_race_still_ends_with_exactly_n_trials_lock(request, tmp_path, storage):
    """Three workers claim the last place in the budget at the same moment: the budget lock
    lets exactly one of them have it."""
    url = (
        request.getfixturevalue("pg_url")
        if storage == "postgresql"
        else f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    )
    study_file = synthetic_study(tmp_path, n_trials=1, epochs=1, epoch_seconds=0.01)
    (tmp_path / "runs").mkdir()
    create_study(load_study_spec(study_file), url, n_trials=1, data_digest="d" * 64)
    workers = 3
    context = multiprocessing.get_context("spawn")  # fresh processes, as the pool starts
    ready, meet = context.Barrier(workers), context.Barrier(workers)
    processes = [
        context.Process(target=claim_in_race, args=(url, study_file, ready, meet))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    for process in processes:
        if process.exitcode is None:
            process.kill()
    assert [p.exitcode for p in processes] == [0] * workers
    trials = assert_exact_budget(load(url), 1)
    assert [t.state for t in trials] == [TrialState.COMPLETE]


def test_a_live_trial_longer_than_the_grace_is_never_failed_by_another_worker_heartbeat(
    tmp_path, monkeypatch, mnist_path
):
    """One trial of 7.5 s with a 3 s grace (1 s heartbeat): the second worker waits at the
    budget's edge and runs the stale-trial check every second of it; the trial's beats must keep
    it alive to the end."""
    for name, value in FAST_HEARTBEAT.items():
        monkeypatch.setenv(name, value)
    study_file = synthetic_study(tmp_path, n_trials=1, epochs=3, epoch_seconds=2.5)
    url = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    launch = launch_in_step(
        *("--study", study_file, "--storage", url, "--workers", "2", "--data", mnist_path),
        cwd=tmp_path,
        url=url,
        study="synth",
        n_workers=2,
    )
    assert launch.returncode == 0, launch.stderr
    trials = load(url).get_trials(deepcopy=False)
    failed = [t.number for t in trials if t.state == TrialState.FAIL]
    assert not failed, f"live trial {failed} failed as stale by the other worker, then retried"
    assert [(t.number, t.state) for t in trials] == [(0, TrialState.COMPLETE)]
    ran = trials[0].duration.total_seconds()
    grace = int(FAST_HEARTBEAT["TUNER_GRACE_SECONDS"])
    assert ran > 2 * grace, f"the trial ran {ran:.1f}s, not well past the {grace}s grace"
