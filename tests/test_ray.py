"""Workers as Ray actors, for real: a local Ray cluster of a head and a second node on this
machine (Ray's own ray.cluster_utils.Cluster, which adds and removes nodes on one host), the
launcher connecting to it with --ray, and the real mnist_mlp objective on a few rows.

Resources are tiny (1 CPU per node, a small object store, no dashboard) so that each node holds
exactly one 1-CPU worker: the test knows which worker runs on the node it removes.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from conftest import FAST_HEARTBEAT, run_module
from optuna.trial import TrialState
from test_postgres import (
    assert_exact_budget,
    finish,
    load,
    start,
    synthetic_study,
    wait_for,
)

from tuner.errors import TunerError
from tuner.execution.ray_pool import check_ray_request

NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray head node on this machine; each test adds (and may remove) a second node."""
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    print(f"\nRay head started in {time.monotonic() - started:.1f}s")
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def second_node(ray_cluster):
    node = ray_cluster.add_node(**NODE)
    try:
        yield node
    finally:
        if node in ray_cluster.worker_nodes:
            ray_cluster.remove_node(node)


def processes_of(node) -> set[int]:
    """Process ids of a Ray node's raylet and everything it started (its workers)."""
    ids = {node.all_processes["raylet"][0].process.pid}
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo = list(ids)
    while todo:
        for child in children.get(todo.pop(), []):
            ids.add(child)
            todo.append(child)
    return ids


def pid_of(trial) -> int:
    return int(trial.user_attrs["worker"].rsplit(":", 1)[1])


def test_mnist_study_reaches_its_count_although_a_node_dies_mid_trial(
    tmp_path, pg_url, ray_cluster, second_node, tiny_study, mnist_path
):
    study_file = tiny_study(name="synth", n_trials=6, epochs=2)
    proc = start(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        pg_url,
        "--ray",
        ray_cluster.address,
        "--workers",
        "2",
        "--data",
        mnist_path,
        cwd=tmp_path,
        env=FAST_HEARTBEAT,
    )

    def running_on_second_node():
        on_node = processes_of(second_node)
        running = load(pg_url).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return next((t for t in running if pid_of(t) in on_node), None)

    victim = wait_for(running_on_second_node, timeout=150, what="a trial on the second node")
    ray_cluster.remove_node(second_node)
    _out, err = finish(proc, timeout=240)

    assert proc.returncode == 0, err[-3000:]
    assert "2 Ray workers (1 CPU, 0 GPU each)" in err
    study = load(pg_url)
    trials = assert_exact_budget(study, 6)
    lost = study.trials[victim.number]
    assert lost.state == TrialState.FAIL, lost
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, retries
    # Retried with what the lost trial had sampled before its node went (Optuna's retry).
    assert lost.params.items() <= retries[0].params.items(), (lost.params, retries[0].params)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2, "both nodes should have worked"
    print(
        f"\nray test: trial #{victim.number} lost with the second node, retried as "
        f"#{retries[0].number}; 6/6 finished"
    )


def test_ctrl_c_fails_every_actors_trial_as_interrupted(
    tmp_path, pg_url, ray_cluster, second_node, mnist_path
):
    study_file = synthetic_study(tmp_path, n_trials=20, epochs=5, epoch_seconds=2)
    proc = start(
        "tuner.launch",
        "--study",
        study_file,
        "--storage",
        pg_url,
        "--ray",
        ray_cluster.address,
        "--workers",
        "2",
        "--data",
        mnist_path,
        cwd=tmp_path,
    )

    def both_running():
        running = load(pg_url).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return running if len(running) == 2 else None

    running = wait_for(both_running, timeout=120, what="a trial running on each worker")
    proc.send_signal(signal.SIGINT)
    _out, err = finish(proc, timeout=120)

    assert proc.returncode == 130, err[-3000:]
    trials = load(pg_url).get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING], trials
    for t in running:
        stopped = next(s for s in trials if s.number == t.number)
        assert stopped.state == TrialState.FAIL, stopped
        assert stopped.user_attrs["fail_reason"] == "interrupted", stopped.user_attrs


@pytest.mark.parametrize(
    ("address", "url", "cpus", "gpus", "message"),
    [
        ("auto", "sqlite:///runs/optuna.db", 1, 0, "cannot share a SQLite file"),
        ("local", "postgresql://h/db", 1.5, 0, "--cpus-per-worker takes a fraction below 1"),
        ("auto", "postgresql://h/db", 1, -0.5, "--gpus-per-worker takes a fraction below 1"),
    ],
)
def test_bad_ray_requests_are_refused(address, url, cpus, gpus, message):
    with pytest.raises(TunerError, match=message):
        check_ray_request(address, url, cpus, gpus)


@pytest.mark.parametrize("url", ["sqlite:///runs/optuna.db", "sqlite:////srv/optuna.db"])
def test_sqlite_is_allowed_on_a_local_ray_cluster(url):
    # A SQLite request that any cluster reached by address (its nodes may be other hosts)
    # refuses...
    for address in ("auto", "ray://head:10001"):
        with pytest.raises(TunerError, match="cannot share a SQLite file"):
            check_ray_request(address, url, 0.5, 0.25)
    # ...passes on --ray local, where every actor runs on this host: no refusal.
    assert check_ray_request("local", url, 0.5, 0.25) is None


def test_launch_refuses_sqlite_with_a_remote_ray_cluster_in_one_line(tmp_path, tiny_study):
    result = run_module(
        "tuner.launch", "--study", tiny_study(), "--ray", "auto", cwd=tmp_path, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: --ray auto: workers on other nodes cannot share a SQLite file; use a "
        "postgresql:// --storage, or --ray local to run on this host only"
    ]
    assert not (tmp_path / "runs").exists(), "nothing may be created before the refusal"
