"""The real path a user takes: launch workers on the embedded storage, export, bad input."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import keras
import optuna
import pytest
from conftest import ROOT, run_module
from optuna.trial import TrialState

from tuner.training.model import build_model


def load(tmp_path, name="tiny"):
    return optuna.load_study(
        study_name=name, storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    )


def study_created(tmp_path) -> bool:
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{tmp_path / 'runs' / 'optuna.db'}?mode=ro", uri=True)
        ) as db:
            return db.execute("SELECT count(*) FROM studies").fetchone()[0] > 0
    except sqlite3.Error:  # no file or no tables yet
        return False


def test_two_workers_finish_exactly_n_trials_then_export(tmp_path, tiny_study, mnist_path):
    study_file = tiny_study(n_trials=4)
    result = run_module(
        "tuner.launch", "--study", study_file, "--workers", "2", "--data", mnist_path, cwd=tmp_path
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
    assert [type(l).__name__ for l in rebuilt.layers] == [
        type(l).__name__ for l in reference.layers
    ]
    assert rebuilt.count_params() == reference.count_params()
    assert [l.units for l in rebuilt.layers if hasattr(l, "units")] == payload["config"][
        "layers"
    ] + [10]

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


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a background job


@pytest.mark.parametrize(
    "stop, preexec",
    [(signal.SIGINT, None), (signal.SIGTERM, _ignore_sigint)],
    ids=["ctrl-c", "kill-of-a-background-launch"],
)
def test_ctrl_c_leaves_no_trial_running(tmp_path, tiny_study, mnist_path, stop, preexec):
    study_file = tiny_study(n_trials=200, epochs=20)
    env = {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuner.launch",
            "--study",
            study_file,
            "--workers",
            "2",
            "--data",
            mnist_path,
        ],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        # Open the storage only once the launcher has set it up: Optuna's RDBStorage writes
        # version rows when it opens, and racing the launcher there makes the launch fail.
        if not study_created(tmp_path):
            continue
        try:
            if any(t.state == TrialState.RUNNING for t in load(tmp_path).trials):
                break
        except (KeyError, Exception):
            continue
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    trials = load(tmp_path).trials
    assert trials, "some trial should have started before Ctrl-C"
    assert all(t.state != TrialState.RUNNING for t in trials)
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    reasons = [t.user_attrs.get("fail_reason") for t in interrupted]
    assert all(reason == "interrupted" for reason in reasons), reasons


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_study, mnist_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = 'x'\n[space]\nunits = { type = 'int', low = 9, high = 1 }\n")
    cases = [
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
