"""Shared fixtures: the real MNIST file, tiny study files, and CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"

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
    """The real MNIST file (CI and sessions have it beside the repo, or in $TUNER_DATA)."""
    path = Path(os.environ.get("TUNER_DATA", SHARED_MNIST))
    assert path.is_file(), f"real MNIST not found at {path}; set TUNER_DATA to a Keras mnist.npz"
    return str(path)


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
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
