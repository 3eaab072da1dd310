"""A TensorFlow-free stand-in for the objective, selected by a study file's `[synthetic]` table.

It exists so that the worker, pool and storage code (claims, heartbeats, retries, budgets) can
be tested and benchmarked with many short trials: a worker process that never imports
TensorFlow starts in about a second instead of ten. It goes through the same trial API as the
real objective: the sampled config, one report per "epoch" (so pruners and the database see the
same traffic), the same user attributes and constraints, marked `synthetic = true`.

The score is a fixed pseudo-random function of the config: no accuracy claim can rest on it.
"""

from __future__ import annotations

import json
import random
import time

import optuna

from tuner.study import StudySpec, record, suggest


def synthetic_score(config: dict) -> tuple[float, float]:
    """(final validation accuracy, final train accuracy) for a config; the same config always
    scores the same, on any host."""
    rng = random.Random(json.dumps(config, sort_keys=True))
    val = rng.uniform(0.80, 0.95)
    return val, val + rng.uniform(-0.02, 0.02)


class SyntheticObjective:
    def __init__(self, spec: StudySpec) -> None:
        assert spec.synthetic is not None
        self.spec = spec
        self.epoch_seconds = spec.synthetic.epoch_seconds

    def __call__(self, trial: optuna.Trial) -> float:
        config = suggest(trial, self.spec.space)
        record.write_setup(trial, config)
        record.write_synthetic(trial)
        final_val, final_train = synthetic_score(config)
        epochs = int(config["epochs"])
        start = time.perf_counter()
        history: dict[str, list[float]] = {"val_accuracy": [], "val_loss": []}
        for epoch in range(epochs):
            time.sleep(self.epoch_seconds)
            progress = 1 - 0.5 ** (epoch + 1)  # a learning curve that flattens
            history["val_accuracy"].append(final_val * progress)
            history["val_loss"].append(1 - final_val * progress)
            value = history[self.spec.metric][-1]
            trial.report(value, step=epoch)
            if trial.should_prune():
                # As the real objective does: constraints for pruned trials too (see Objective).
                best = max(history["val_accuracy"])
                trial.set_constraint("accuracy", self.spec.constraints.accuracy_shortfall(best))
                trial.set_constraint("gap", 0.0)
                record.write_pruned(trial, reason="pruner", epoch=epoch + 1, history=history)
                raise optuna.TrialPruned(f"pruner at epoch {epoch + 1}")
        val_accuracy = history["val_accuracy"][-1]
        train_accuracy = final_train * (1 - 0.5**epochs)
        rules = self.spec.constraints
        gap_excess = rules.gap_excess(train_accuracy - val_accuracy)
        accuracy_shortfall = rules.accuracy_shortfall(val_accuracy)
        trial.set_constraint("gap", gap_excess)
        trial.set_constraint("accuracy", accuracy_shortfall)
        record.Measurements(
            train_accuracy=train_accuracy,
            val_accuracy=val_accuracy,
            gap=train_accuracy - val_accuracy,
            fit_seconds=time.perf_counter() - start,
            history=history,
            feasible=gap_excess <= 0 and accuracy_shortfall <= 0,
        ).write(trial)
        return history[self.spec.metric][-1]
