"""The real path a user takes: launch workers on the embedded storage, export, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import keras
import optuna
import pytest
from conftest import ROOT, is_alive, launch_in_step, run_module, wait_for, worker_pids
from optuna.trial import TrialState

from tuner.execution.storage import open_storage
from tuner.training.model import build_model


def load(tmp_path, name="tiny"):
    return optuna.load_study(
        study_name=name, storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    )


def test_two_workers_finish_exactly_n_trials_then_export(tmp_path, tiny_study, mnist_path):
    study_file = tiny_study(n_trials=4)
    url = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    result = launch_in_step(
        "--study",
        study_file,
        "--storage",
        url,
        "--workers",
        "2",
        "--data",
        mnist_path,
        cwd=tmp_path,
        url=url,
        study="tiny",
        n_workers=2,
    )
    assert result.returncode == 0, result.stderr
    study = load(tmp_path)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 4
    assert TrialState.RUNNING not in states
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2, "both worker processes should have run trials"
    trial = study.trials[0]
    for key in (
        "train_accuracy",
        "val_accuracy",
        "gap",
        "fit_seconds",
        "history",
        "config",
        "seed",
    ):
        assert key in trial.user_attrs
    assert set(trial.constraints) == {"gap", "accuracy"}
    assert study.user_attrs["target_trials"] == 4
    assert len(study.user_attrs["data_digest"]) == 64
    assert "4/4 done" in result.stdout

    # Launching again adds --n-trials more.
    again = run_module(
        "tuner.launch",
        "--study",
        study_file,
        "--workers",
        "1",
        "--n-trials",
        "2",
        "--data",
        mnist_path,
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    finished = [
        t for t in load(tmp_path).trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    ]
    assert len(finished) == 6

    # Export round trip: the JSON rebuilds the same network.
    out = tmp_path / "best.json"
    exported = run_module("tuner.export", "--study", study_file, "--out", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    payload = json.loads(out.read_text())
    best = load(tmp_path).trials[payload["best_trial"]]
    assert payload["params"] == best.params
    assert payload["metrics"]["val_accuracy"] == best.user_attrs["val_accuracy"]
    assert payload["provenance"]["data_digest"] == study.user_attrs["data_digest"]
    assert payload["provenance"]["sampler"]["seed"] == 3
    rebuilt = keras.models.model_from_json(json.dumps(payload["model"]))
    reference = build_model(payload["config"])
    assert [type(layer).__name__ for layer in rebuilt.layers] == [
        type(layer).__name__ for layer in reference.layers
    ]
    assert rebuilt.count_params() == reference.count_params()
    widths = [layer.units for layer in rebuilt.layers if hasattr(layer, "units")]
    assert widths == [*payload["config"]["layers"], 10]

    # A chosen trial (e.g. the reporter's robust pick) instead of the best; a missing one fails.
    chosen = tmp_path / "chosen.json"
    assert (
        run_module(
            "tuner.export",
            "--study",
            study_file,
            "--trial",
            "1",
            "--out",
            str(chosen),
            cwd=tmp_path,
        ).returncode
        == 0
    )
    assert json.loads(chosen.read_text())["best_trial"] == 1
    missing = run_module(
        "tuner.export",
        "--study",
        study_file,
        "--trial",
        "99",
        "--out",
        str(tmp_path / "no.json"),
        cwd=tmp_path,
    )
    assert missing.returncode == 2 and "no complete trial #99" in missing.stderr
    assert not (tmp_path / "no.json").exists()
    # A folder that cannot be written (here a file stands where it should be): one line, and
    # no study work done.
    (tmp_path / "a_file").write_text("")
    unwritable = run_module(
        "tuner.export",
        "--study",
        study_file,
        "--out",
        str(tmp_path / "a_file" / "x.json"),
        cwd=tmp_path,
    )
    assert unwritable.returncode == 2, unwritable.stderr
    assert unwritable.stderr.strip().splitlines() == [
        f"error: cannot write {tmp_path / 'a_file' / 'x.json'}: "
        f"{tmp_path / 'a_file'} is not a writable directory"
    ]
    assert (tmp_path / "a_file").read_text() == ""


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a background job


@pytest.mark.parametrize(
    "stop, preexec, storage",
    [
        (signal.SIGINT, None, "sqlite"),
        (signal.SIGTERM, _ignore_sigint, "sqlite"),
        (signal.SIGINT, None, "postgresql"),
    ],
    ids=["ctrl-c-sqlite", "kill-of-a-background-launch-sqlite", "ctrl-c-postgresql"],
)
def test_ctrl_c_fails_the_running_trials_in_the_workers_and_stops_them(
    request, tmp_path, tiny_study, mnist_path, stop, preexec, storage
):
    url = (
        request.getfixturevalue("pg_url")
        if storage == "postgresql"
        else f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    )
    # 500 epochs: a trial seen mid-fit is still mid-fit when the signal lands, however fast.
    study_file = tiny_study(n_trials=200, epochs=500)
    err_path = tmp_path / "launch.err"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tuner.launch", "--study", study_file),
                *("--storage", url, "--workers", "2", "--data", mnist_path),
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=preexec,
        )
    try:
        # Open the storage only once the launcher has created the study.
        wait_for(
            lambda: "finished trials done" in err_path.read_text() or proc.poll() is not None,
            timeout=120,
            what="the study",
        )
        assert proc.poll() is None, err_path.read_text()
        study = optuna.load_study(study_name="tiny", storage=open_storage(url))

        def trials_mid_fit():  # far from done when the signal comes
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            return [t for t in running if t.intermediate_values]

        cut_off = wait_for(trials_mid_fit, timeout=180, what="a trial in the middle of its fit")
        proc.send_signal(stop)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err_path.read_text()
    trials = study.get_trials(deepcopy=False)
    assert all(t.state != TrialState.RUNNING for t in trials)
    for t in cut_off:
        ended = trials[t.number]
        # Failed by the worker itself ("interrupted"), not by the pool after it
        # ("interrupted (by the pool)") or by any other path.
        assert ended.state == TrialState.FAIL, ended.state
        assert ended.user_attrs.get("fail_reason") == "interrupted", ended.user_attrs
    pids = worker_pids(trials) | {
        int(pid) for pid in re.search(r"\(pids ([\d, ]+)\)", err_path.read_text())[1].split(", ")
    }
    assert len(pids) == 2 and not [pid for pid in pids if is_alive(pid)], pids


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_study, mnist_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = 'x'\n[space]\nunits = { type = 'int', low = 9, high = 1 }\n")
    unmeetable = tiny_study(name="unmeetable", extra="[capstone]\nmin_test_accuracy = 87\n")
    fractional = tiny_study(name="fractional", extra="[capstone]\nepochs = 5.5\n")
    # A study that exists (made elsewhere), for a worker that joins it with bad data.
    made = tmp_path / "elsewhere"
    made.mkdir()
    existing = f"sqlite:///{made / 'optuna.db'}"
    created = run_module(
        "tuner.launch",
        "--study",
        tiny_study(),
        "--storage",
        existing,
        "--create-only",
        "--data",
        mnist_path,
        cwd=made,
    )
    assert created.returncode == 0, created.stderr
    junk = tmp_path / "junk.npz"
    junk.write_text("not an npz")
    cases = [
        (
            ["tuner.launch", "--study", unmeetable, "--data", mnist_path],
            "capstone.min_test_accuracy: must be a number in [0, 1]",
        ),
        (
            ["tuner.launch", "--study", fractional, "--data", mnist_path],
            "capstone.epochs: must be an integer in 1..1000",
        ),
        (
            ["tuner.worker", "--study", str(broken), "--storage", existing],
            "broken.toml: space.units: low (9) is greater than high (1)",
        ),
        (
            ["tuner.worker", "--study", unmeetable, "--storage", existing],
            "capstone.min_test_accuracy",
        ),
        (
            ["tuner.worker", "--study", tiny_study(), "--storage", existing, "--data", str(junk)],
            "is not a readable .npz",
        ),
        (
            [
                *("tuner.worker", "--study", tiny_study(), "--storage", existing),
                *("--data", str(tmp_path / "none.npz")),
            ],
            "does not exist",
        ),
        (["tuner.launch", "--study", "no_such_study"], "unknown study 'no_such_study'"),
        (
            ["tuner.launch", "--study", str(broken)],
            "broken.toml: space.units: low (9) is greater than high (1)",
        ),
        (
            ["tuner.launch", "--study", tiny_study(), "--storage", "not a url"],
            "malformed storage URL",
        ),
        (
            ["tuner.launch", "--study", tiny_study(), "--data", str(tmp_path / "none.npz")],
            "does not exist",
        ),
        (
            [
                "tuner.launch",
                "--study",
                tiny_study(),
                "--data",
                mnist_path,
                "--storage",
                "postgresql://me:hunter2@127.0.0.1:1/db",
            ],
            "Connection refused",
        ),
        (
            [
                "tuner.export",
                "--study",
                "tiny",
                "--storage",
                f"sqlite:///{tmp_path}/none.db",
                "--out",
                "x.json",
            ],
            "does not exist",
        ),
    ]
    for argv, expected in cases:
        result = run_module(*argv, cwd=tmp_path)
        assert result.returncode == 2, (argv, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert expected in lines[0]
        assert "hunter2" not in result.stderr + result.stdout
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "x.json").exists()
    joined = optuna.load_study(study_name="tiny", storage=existing)
    assert joined.trials == [] and not (made / "runs").exists()
    assert optuna.get_all_study_names(existing) == ["tiny"]


def test_a_worker_with_other_data_than_the_study_refuses_to_run(tmp_path, tiny_study, mnist_path):
    """Each worker process checks its MNIST against the study's digest: the check Ray actors,
    which start no `tuner.worker` of their own, rely on."""
    import numpy as np

    study = tiny_study()
    created = run_module(
        "tuner.launch", "--study", study, "--create-only", "--data", mnist_path, cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    with np.load(mnist_path) as real:
        arrays = dict(real)
    arrays["x_train"][0, 0, 0] ^= 1  # one pixel of the training rows
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)
    url = f"sqlite:///{tmp_path / 'runs/optuna.db'}"
    for module, args in (
        ("tuner.execution.loop", ["--index", "0"]),
        ("tuner.worker", ["--storage", url]),
    ):
        joined = run_module(
            module,
            "--study",
            study,
            *args,
            "--data",
            str(other),
            cwd=tmp_path,
            env={"TUNER_STORAGE": url},
        )
        assert joined.returncode != 0, module
        assert "this host's MNIST differs from the one study 'tiny' was created with" in (
            joined.stderr
        ), joined.stderr
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    assert [t for t in trials if t.state != optuna.trial.TrialState.WAITING] == []
