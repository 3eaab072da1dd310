"""One side of scripts/profile_trial.py's before/after comparison, run in its own process with
PYTHONPATH set to the tree under test (the branch point's or this one), so only functions both
trees have are called: fit_and_measure, judge, enable_determinism and the data loaders.

    PYTHONPATH=TREE python scripts/bench/speed_variant.py accuracy|reporter|startup [--data PATH]

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from typing import Any

from tuner.study import DEFAULTS

# Five configs of the mnist_mlp space, from the course's answer to the shifted ReLU nets where
# capstone passes live; batch sizes 16-256, with and without the image shift.
BASE: dict[str, Any] = {**{k: v for k, v in DEFAULTS.items() if k != "units"}, "rescale": True}
CONFIGS: dict[str, dict[str, Any]] = {
    "course 256-128 sigmoid, SGD 0.1, batch 128": {
        **BASE,
        "layers": [256, 128],
        "activation": "sigmoid",
        "dropout": 0.5,
        "dropout_position": "second",
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "batch_size": 128,
    },
    "128 ReLU, shift 0.1, noise 0.3, dropout 0.5, batch 64": {
        **BASE,
        "layers": [128],
        "dropout": 0.5,
        "input_noise": 0.3,
        "shift": 0.1,
        "batch_size": 64,
    },
    "256 ReLU, shift 0.1, dropout 0.3, batch 64": {
        **BASE,
        "layers": [256],
        "dropout": 0.3,
        "shift": 0.1,
        "batch_size": 64,
    },
    "512-256 ReLU, momentum 0.01, shift 0.05, L2 1e-4, batch 32": {
        **BASE,
        "layers": [512, 256],
        "optimizer": "momentum",
        "learning_rate": 0.01,
        "shift": 0.05,
        "l2": 1e-4,
        "batch_size": 32,
    },
    "64x3 sigmoid, MSE, RMSprop, input dropout 0.2, shift 0.15, batch 16": {
        **BASE,
        "layers": [64, 64, 64],
        "activation": "sigmoid",
        "loss": "mean_squared_error",
        "optimizer": "rmsprop",
        "input_dropout": 0.2,
        "shift": 0.15,
        "batch_size": 16,
    },
}
# The reporter's timed retrain: a 4-layer config, as in the 36-39 s per 2 seeds.
REPORTER_CONFIG: dict[str, Any] = {
    **BASE,
    "layers": [512, 512, 256, 128],
    "dropout": 0.3,
    "input_noise": 0.2,
    "shift": 0.1,
    "batch_size": 32,
}
SEEDS = (0, 1, 2, 3, 4)


def accuracy(data_path: str | None) -> dict[str, Any]:
    """Validation accuracy and gap of every config on every seed, on the study's rows."""
    from tuner.training.data import load_search_data
    from tuner.training.objective import fit_and_measure

    data = load_search_data(data_path, train_rows=6000, validation_rows=(6000, 16000))
    # Where the tree has it, seeds 1-4 take the robustness re-runs' path (validation after the
    # last epoch only, the previous seed's model reused), so the table covers both ways a
    # trial fits.
    rerun = "reuse" in inspect.signature(fit_and_measure).parameters
    results: dict[str, Any] = {}
    start = time.perf_counter()
    for name, config in CONFIGS.items():
        runs: list[dict[str, Any]] = []
        for s in SEEDS:
            kwargs = (
                {"validate_every_epoch": False, "reuse": runs[-1]["model"]}
                if rerun and runs
                else {}
            )
            runs.append(fit_and_measure(config, data.train, data.validation, seed=s, **kwargs))
        results[name] = [{"val_accuracy": r["val_accuracy"], "gap": r["gap"]} for r in runs]
    return {"configs": results, "seconds": time.perf_counter() - start}


def reporter(data_path: str | None) -> dict[str, Any]:
    """The reporter's retrain as `tuner.report --config` runs it (determinism, then judge, with
    the learning curves it plots) and, where the tree has it, as the main job's judges run it
    (no curves): seconds per retrain and the seeds' test accuracies for each."""
    try:
        from tuner.results.judge import judge
    except ImportError:  # a tree from before judge.py was split out of report.py
        from tuner.results.report import judge  # type: ignore[attr-defined,no-redef]
    from tuner.study import Capstone
    from tuner.training.backend import enable_determinism
    from tuner.training.data import load_mnist

    enable_determinism()
    raw = load_mnist(data_path)
    paths = {"report": {}}
    if "curves" in inspect.signature(judge).parameters:
        paths["judging"] = {"curves": False}
    timed: dict[str, Any] = {}
    for path, kwargs in paths.items():
        start = time.perf_counter()
        judgement = judge(
            REPORTER_CONFIG,
            label="bench",
            trial_number=None,
            raw=raw,
            seeds=[0, 1],
            rules=Capstone(),
            threshold=0.5,
            **kwargs,
        )
        timed[path] = {
            "seconds_per_retrain": (time.perf_counter() - start) / 2,
            "test_accuracies": [r.test_accuracy for r in judgement.runs],
        }
    return timed


def startup(data_path: str | None) -> dict[str, Any]:
    """What a worker pays once: importing Keras and TensorFlow, then loading the study's data."""
    start = time.perf_counter()
    import keras

    keras.backend.backend()
    imported = time.perf_counter()
    from tuner.training.data import load_search_data

    load_search_data(data_path, train_rows=6000, validation_rows=(6000, 16000))
    return {"import": imported - start, "data_load": time.perf_counter() - imported}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("accuracy", "reporter", "startup"))
    parser.add_argument("--data")
    args = parser.parse_args()
    run = {"accuracy": accuracy, "reporter": reporter, "startup": startup}[args.what]
    print(json.dumps(run(args.data)), flush=True)


if __name__ == "__main__":
    main()
