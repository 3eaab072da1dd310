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
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import optuna

from tuner.study import Constraints, StudySpec, record, suggest
from tuner.training.callbacks import EVAL_BATCH, trial_callbacks
from tuner.training.data import SearchData, Split
from tuner.training.model import build_model, reset_to_fresh
from tuner.training.replicas import (
    MeanLossOverReplicas,
    l2_per_replica,
    per_replica_accuracy,
    replicated_labels,
)
from tuner.training.timing import PhaseTimer


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
    validation: Split | None,
    *,
    seed: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    timer: PhaseTimer | None = None,
    reuse: keras.Model | None = None,
    replicas: int = 1,
) -> dict[str, Any]:
    """Train one config and return its measurements; shared by the objective and the judges.

    `replicas` > 1 trains that many weight seeds of the config in one fit
    (tuner.training.replicas); the result then also holds `replicas`, one dict of measurements
    per replica, and the top-level figures are their means. `timer` records where the time
    went, also when a callback stops the fit. `reuse`, a model an earlier call returned for
    this same config and number of replicas, is reset and trained again instead of a new one:
    the same results as a fresh build, without tracing its functions again. Without a
    `validation` split the fit only trains: the caller measures the model itself (the goal's
    judges, which read nothing but the final accuracies).
    """
    keras.utils.set_random_seed(seed)
    timer = timer or PhaseTimer()
    start = time.perf_counter()
    if reuse is not None:
        model = reset_to_fresh(reuse, config, replicas)
    else:
        model = build_model(config, replicas)
    built = time.perf_counter()
    timer.build = built - start
    labels = (lambda y: y) if replicas == 1 else (lambda y: replicated_labels(y, replicas))
    validating: dict[str, Any] = {}
    if validation is not None:
        validating = {
            "validation_data": (validation.x, labels(validation.y)),
            "validation_batch_size": EVAL_BATCH,
        }
    history = model.fit(
        train.x,
        labels(train.y),
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        callbacks=[timer, *([MeanLossOverReplicas(replicas)] if replicas > 1 else []), *callbacks],
        verbose=0,
        **validating,
    )
    fitted = time.perf_counter()
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    trained = {"model": model, "fit_seconds": fitted - built, "history": curves}
    if validation is None:
        return {**trained, "timings": timer.phases()}
    if replicas > 1:
        measured = _measure_replicas(model, config, train, validation)
        timer.final_evaluate = time.perf_counter() - fitted
        return {**trained, **measured, "timings": timer.phases()}
    # Train accuracy is measured with dropout and noise off, on the whole training split:
    # the running accuracy in the epoch logs is not it.
    train_eval = model.evaluate(
        train.x, train.y, batch_size=EVAL_BATCH, verbose=0, return_dict=True
    )
    timer.final_evaluate = time.perf_counter() - fitted
    val_accuracy = curves["val_accuracy"][-1]
    train_accuracy = float(train_eval["accuracy"])
    return {
        **trained,
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "val_loss": curves["val_loss"][-1],
        "gap": train_accuracy - val_accuracy,
        "timings": timer.phases(),
    }


def _measure_replicas(
    model: keras.Model, config: dict[str, Any], train: Split, validation: Split
) -> dict[str, Any]:
    """Each replica's train accuracy (dropout off, whole training split), validation accuracy
    and loss, as a separate fit's `evaluate` would give them; and their means."""
    train_accuracy = per_replica_accuracy(model, train.x, train.y)
    probs = model.predict(validation.x, batch_size=EVAL_BATCH, verbose=0)  # (n, K, 10)
    val_accuracy = (probs.argmax(axis=-1) == validation.y.argmax(axis=1)[:, None]).mean(axis=0)
    labels = replicated_labels(validation.y, probs.shape[1])
    per_row = keras.losses.get(config["loss"])(labels, probs)  # (n, K)
    # As Keras' val_loss of a separate fit: the loss plus that replica's own L2 penalty.
    val_loss = keras.ops.convert_to_numpy(per_row).mean(axis=0) + l2_per_replica(model)
    runs = [
        {
            "train_accuracy": float(t),
            "val_accuracy": float(v),
            "val_loss": float(loss),
            "gap": float(t - v),
        }
        for t, v, loss in zip(train_accuracy, val_accuracy, val_loss, strict=True)
    ]
    means = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    return {**means, "replicas": runs}


class Objective:
    """One search trial. `constraints_for(trial)` gives the [constraints] the trial is judged
    by (a goal study's gap window follows the offset its judges measure); the study file's by
    default."""

    def __init__(
        self,
        spec: StudySpec,
        data: SearchData,
        constraints_for: Callable[[optuna.Trial], Constraints] | None = None,
    ) -> None:
        self.spec = spec
        self.data = data
        self.constraints_for = constraints_for or (lambda trial: spec.constraints)

    def __call__(self, trial: optuna.Trial) -> float:
        config = suggest(trial, self.spec.space)
        seed = trial_seed(self.spec, trial.number, config)
        record.write_setup(trial, config, seed=seed)
        rules = self.constraints_for(trial)
        callbacks = trial_callbacks(trial, self.spec, self.data.train, rules)
        timer = PhaseTimer()
        replicas = self.spec.robustness.seeds
        try:
            result = fit_and_measure(
                config,
                self.data.train,
                self.data.validation,
                seed=seed,
                callbacks=callbacks.for_fit(),
                timer=timer,
                replicas=replicas,
            )
        except optuna.TrialPruned:
            record.write_train_eval_seconds(trial, callbacks.train_eval_seconds)
            record.add_timings(
                trial, {**timer.phases(), "train_accuracy": callbacks.train_eval_seconds}
            )
            self._constrain_pruned(trial, rules, callbacks.report.history)
            raise
        record.add_timings(
            trial, {**timer.phases(), "train_accuracy": callbacks.train_eval_seconds}
        )
        runs = result.get("replicas", [result])  # one per weight seed
        for run in runs:
            run["capstone_margin"] = rules.margin(run["val_accuracy"], run["gap"])
        # Feasible only if every seed is: a lucky seed cannot make a config look robust.
        worst_gap = max((r["gap"] for r in runs), key=rules.gap_excess)
        gap_excess = rules.gap_excess(worst_gap)
        accuracy_shortfall = rules.accuracy_shortfall(min(r["val_accuracy"] for r in runs))
        trial.set_constraint("gap", gap_excess)
        trial.set_constraint("accuracy", accuracy_shortfall)

        values = np.array([r[self.spec.metric] for r in runs])
        value = float(values[0])
        per_seed: dict[str, Any] = {}
        if len(runs) > 1:
            # Lower (or, when minimizing, upper) confidence bound: rank by what holds over seeds.
            spread, mean = float(values.std(ddof=1)), float(values.mean())
            value = mean - spread if self.spec.direction == "maximize" else mean + spread
            per_seed = {
                "replicas": len(runs),
                "val_accuracies": [r["val_accuracy"] for r in runs],
                "train_accuracies": [r["train_accuracy"] for r in runs],
                "gaps": [r["gap"] for r in runs],
                "worst_gap": worst_gap,
                "objective_bound": value,
            }
        record.Measurements(
            train_accuracy=result["train_accuracy"],
            val_accuracy=result["val_accuracy"],
            gap=result["gap"],
            fit_seconds=result["fit_seconds"],
            # The callbacks' curves: the fit's, plus the train accuracy measured for the gap rule.
            history=callbacks.report.history,
            feasible=gap_excess <= 0 and accuracy_shortfall <= 0,
            capstone_margin=rules.margin(result["val_accuracy"], result["gap"]),
            gap_offset=rules.gap_offset,
            train_eval_seconds=callbacks.train_eval_seconds,
            **per_seed,
        ).write(trial)
        return value

    def _constrain_pruned(
        self, trial: optuna.Trial, rules: Constraints, history: dict[str, list[float]]
    ) -> None:
        """Give a pruned trial constraint values too. Optuna's TPE counts a pruned trial without
        them as feasible and ranks it above every infeasible complete trial; while nothing is
        feasible yet, it then samples more of the useless early-pruned configs (nets that
        predict one class). Judged by its best epoch so far."""
        accuracies = [a for a in history.get("val_accuracy", []) if np.isfinite(a)]
        best = max(accuracies, default=0.0)
        trial.set_constraint("accuracy", rules.accuracy_shortfall(best))
        trial.set_constraint("gap", 0.0)  # not measured: train accuracy is evaluated after fit
