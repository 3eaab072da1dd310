"""The arms: each takes an ArmRun and returns its result (bench.confirm.arm_result).

- product:       this product's launcher and workers (product.py)
- optuna_tpe:    plain Optuna with TPESampler (plain_optuna.py)
- optuna_random: plain Optuna with RandomSampler (plain_optuna.py)
- kt_bayes:      Keras Tuner's BayesianOptimization (keras_tuner.py)
- kt_hyperband:  Keras Tuner's Hyperband (keras_tuner.py)
"""

from __future__ import annotations

from typing import Any

from bench.confirm import ArmRun

ARMS = ("product", "optuna_tpe", "optuna_random", "kt_bayes", "kt_hyperband")


def run_arm(arm: str, run: ArmRun) -> dict[str, Any]:
    """Run one arm in this process. Its module is imported only here, in the arm's own process:
    the scheduler stays free of TensorFlow, and Keras Tuner (the bench extra) is needed only by
    its own arms."""
    if arm == "product":
        from bench.arms import product

        return product.run(run)
    if arm in ("optuna_tpe", "optuna_random"):
        from bench.arms import plain_optuna

        return plain_optuna.run_tpe(run) if arm == "optuna_tpe" else plain_optuna.run_random(run)
    if arm in ("kt_bayes", "kt_hyperband"):
        from bench.arms import keras_tuner

        return keras_tuner.run_bayes(run) if arm == "kt_bayes" else keras_tuner.run_hyperband(run)
    raise ValueError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")
