"""The study objective: build the sampled MLP, train it, measure it, declare feasibility.

Maximizes validation accuracy, the slack on the capstone rules (capstone_margin), or minimizes
validation loss. The capstone rules, measured on the validation split, become Optuna constraints
so the sampler steers toward configs that pass:
    gap:      |train accuracy - validation accuracy - gap_offset| - max_gap  <= 0
    accuracy: min_val_accuracy - validation accuracy                         <= 0
The accuracy floor matters: a net that predicts one class has a gap near zero.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np
import optuna

from tuner.study import StudySpec, suggest
from tuner.training.callbacks import EVAL_BATCH, TrialCallback
from tuner.training.data import SearchData, Split
from tuner.training.model import build_model


def trial_seed(spec: StudySpec, trial_number: int, config: dict[str, Any]) -> int:
    """The seed a trial trains with, recorded so the run can be reproduced.

    Studies that repeat a config over seeds (`seed_repeat` in the space) seed by the repeat
    index, so a rerun trains each (config, repeat) pair identically whatever trial runs it.
    """
    base = int(spec.sampler.get("seed") or 0)
    if "seed_repeat" in spec.space:
        return base + int(config["seed_repeat"])
    return base + trial_number


def fit_and_measure(
    config: dict[str, Any],
    train: Split,
    validation: Split,
    *,
    seed: int,
    callbacks: list[keras.callbacks.Callback] = (),
) -> dict[str, Any]:
    """Train one config and return its measurements; shared by the objective and reporter."""
    keras.utils.set_random_seed(seed)
    model = build_model(config)
    start = time.perf_counter()
    history = model.fit(
        train.x,
        train.y,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        validation_data=(validation.x, validation.y),
        validation_batch_size=EVAL_BATCH,
        callbacks=list(callbacks),
        verbose=0,
    )
    fit_seconds = time.perf_counter() - start
    # Train accuracy is measured with dropout and noise off, on the whole training split:
    # the running accuracy in the epoch logs is not it.
    train_eval = model.evaluate(
        train.x, train.y, batch_size=EVAL_BATCH, verbose=0, return_dict=True
    )
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    val_accuracy = curves["val_accuracy"][-1]
    train_accuracy = float(train_eval["accuracy"])
    return {
        "model": model,
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "val_loss": curves["val_loss"][-1],
        "gap": train_accuracy - val_accuracy,
        "fit_seconds": fit_seconds,
        "history": curves,
    }


class Objective:
    def __init__(self, spec: StudySpec, data: SearchData) -> None:
        self.spec = spec
        self.data = data

    def __call__(self, trial: optuna.Trial) -> float:
        config = suggest(trial, self.spec.space)
        seed = trial_seed(self.spec, trial.number, config)
        trial.set_user_attr("config", config)
        trial.set_user_attr("seed", seed)
        callback = TrialCallback(
            trial,
            metric=self.spec.metric,
            overfit=self.spec.overfit,
            train=self.data.train,
            constraints=self.spec.constraints,
        )
        try:
            runs = [
                fit_and_measure(
                    config, self.data.train, self.data.validation, seed=seed, callbacks=[callback]
                )
            ]
        except optuna.TrialPruned:
            self._constrain_pruned(trial, callback.history)
            raise
        rules, robustness = self.spec.constraints, self.spec.robustness
        if robustness.extra_seeds and self._violation(runs[0]) <= robustness.margin:
            # Promising: re-train with more seeds so feasibility is not one lucky run.
            for k in range(1, robustness.extra_seeds + 1):
                runs.append(
                    fit_and_measure(
                        config, self.data.train, self.data.validation, seed=seed + 10007 * k
                    )
                )
        for run in runs:
            run["capstone_margin"] = rules.margin(run["val_accuracy"], run["gap"])
        worst_gap = max((r["gap"] for r in runs), key=rules.gap_excess)
        gap_excess = rules.gap_excess(worst_gap)
        accuracy_shortfall = rules.accuracy_shortfall(min(r["val_accuracy"] for r in runs))
        trial.set_constraint("gap", gap_excess)
        trial.set_constraint("accuracy", accuracy_shortfall)

        first = runs[0]
        for key in ("train_accuracy", "val_accuracy", "gap", "capstone_margin", "fit_seconds"):
            trial.set_user_attr(key, first[key])
        # The callback's curves: the fit's, plus the train accuracy measured for the gap rule.
        trial.set_user_attr("history", callback.history)
        trial.set_user_attr("train_eval_seconds", callback.train_eval_seconds)
        trial.set_user_attr("feasible", gap_excess <= 0 and accuracy_shortfall <= 0)
        values = np.array([r[self.spec.metric] for r in runs])
        if len(runs) == 1:
            return float(values[0])
        trial.set_user_attr("seeds", [seed] + [seed + 10007 * k for k in range(1, len(runs))])
        trial.set_user_attr("val_accuracies", [r["val_accuracy"] for r in runs])
        trial.set_user_attr("gaps", [r["gap"] for r in runs])
        trial.set_user_attr("worst_gap", worst_gap)
        # Lower (or, when minimizing, upper) confidence bound: rank by what holds over seeds.
        spread = float(values.std(ddof=1))
        bound = (
            values.mean() - spread if self.spec.direction == "maximize" else values.mean() + spread
        )
        trial.set_user_attr("objective_bound", float(bound))
        return float(bound)

    def _constrain_pruned(self, trial: optuna.Trial, history: dict[str, list[float]]) -> None:
        """Give a pruned trial constraint values too. Optuna's TPE counts a pruned trial without
        them as feasible and ranks it above every infeasible complete trial; while nothing is
        feasible yet, it then samples more of the useless early-pruned configs (seen here: 107
        of 150 trials pruned, all predicting one class). Judged by its best epoch so far."""
        rules = self.spec.constraints
        accuracies = [a for a in history.get("val_accuracy", []) if np.isfinite(a)]
        best = max(accuracies, default=0.0)
        trial.set_constraint("accuracy", rules.accuracy_shortfall(best))
        trial.set_constraint("gap", 0.0)  # not measured: train accuracy is evaluated after fit

    def _violation(self, run: dict[str, Any]) -> float:
        return -self.spec.constraints.margin(run["val_accuracy"], run["gap"])
