"""Keras' JAX backend (KERAS_BACKEND=jax): a worker trains and reports trials with the image
shift, the shifted model's train step is compiled (uncompiled, an epoch took 15x longer), and
each CPU worker keeps to its own cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import optuna
from conftest import ROOT, run_module

JAX = {"KERAS_BACKEND": "jax"}


def test_the_shifted_model_compiles_on_jax_and_stays_as_keras_chooses_on_tensorflow():
    code = (
        "import json, keras; from tuner.study import DEFAULTS; "
        "from tuner.training.model import build_model; "
        "model = build_model({**DEFAULTS, 'layers': [16], 'shift': 0.1}); "
        "print(json.dumps([keras.backend.backend(), model.jit_compile]))"
    )
    seen = {}
    for backend in ("jax", "tensorflow"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        name, compiled = json.loads(result.stdout.strip().splitlines()[-1])
        seen[name] = compiled
    # TensorFlow on a CPU-only machine: no XLA, as Keras decides for every model here.
    assert seen == {"jax": True, "tensorflow": False}


def test_a_jax_cpu_worker_keeps_to_its_cores():
    """JAX has no threads-per-op setting: a CPU worker pins itself, every thread XLA starts
    included, to the cores its slot got ($TUNER_CPUS)."""
    core = max(os.sched_getaffinity(0))
    code = (
        "import glob, json, os, keras, jax; from tuner.training.backend import configure_worker; "
        "configure_worker(); "
        "jax.jit(lambda a: a @ a)(jax.numpy.ones((256, 256))).block_until_ready(); "
        "print(json.dumps(sorted({open(f).read().split('Cpus_allowed_list:')[1].split()[0] "
        "for f in glob.glob('/proc/self/task/*/status')})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax", "TUNER_CPUS": str(core)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [str(core)]


def test_jax_workers_train_and_report_shifted_trials(tmp_path, tiny_study, mnist_path):
    study_file = tiny_study(n_trials=2, epochs=2, extra="shift = 0.1\n")
    launch = run_module(
        "tuner.launch",
        "--study",
        study_file,
        "--workers",
        "2",
        "--data",
        mnist_path,
        cwd=tmp_path,
        env=JAX,
    )
    assert launch.returncode == 0, launch.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'runs/optuna.db'}")
    trials = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(trials) == 2
    for trial in trials:
        assert len(trial.intermediate_values) == 2  # reported every epoch
        assert 0.3 < trial.user_attrs["val_accuracy"] <= 1.0  # it learned
    export = run_module(
        "tuner.export", "--study", study_file, "--out", "best.json", cwd=tmp_path, env=JAX
    )
    assert export.returncode == 0, export.stderr
    payload = json.loads((tmp_path / "best.json").read_text())
    assert payload["provenance"]["keras_backend"] == "jax"
    assert any(layer["config"]["name"] == "shift" for layer in payload["model"]["config"]["layers"])
