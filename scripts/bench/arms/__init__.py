"""The search arms: each module's `run(arm, run)` runs one arm for an ArmRun and returns its
result (confirm.arm_result).

- product:       this product's launcher and workers (product.py)
- optuna_tpe:    plain Optuna with TPESampler (plain_optuna.py)
- optuna_random: plain Optuna with RandomSampler (plain_optuna.py)
- kt_bayes:      Keras Tuner's BayesianOptimization (keras_tuner.py)
- kt_hyperband:  Keras Tuner's Hyperband (keras_tuner.py)
"""

from __future__ import annotations

import importlib
from typing import Any

from scripts.bench.confirm import ArmRun

MODULES = {
    "product": "product",
    "optuna_tpe": "plain_optuna",
    "optuna_random": "plain_optuna",
    "kt_bayes": "keras_tuner",
    "kt_hyperband": "keras_tuner",
}
ARMS = tuple(MODULES)


def run_arm(arm: str, run: ArmRun) -> dict[str, Any]:
    """Run one arm in this process. Its module is imported only here, in the arm's own process:
    the scheduler stays free of TensorFlow, and Keras Tuner (the bench extra) is needed only by
    its own arms."""
    if arm not in MODULES:
        raise ValueError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")
    return importlib.import_module(f"scripts.bench.arms.{MODULES[arm]}").run(arm, run)
