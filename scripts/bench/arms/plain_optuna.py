"""Plain Optuna, as a user would write it: one study in memory, one trial at a time.

optuna_tpe uses TPESampler(seed), optuna_random RandomSampler(seed); neither has constraints
or a pruning callback, and both maximize validation accuracy on the same rows as every arm. A
trial that passes the stand-in is judged by the goal's rule inside its objective, so the search
waits while it is judged (one process, as such a script would run).
"""

from __future__ import annotations

from typing import Any

import keras
import optuna

from scripts.bench.confirm import ArmRun, Confirmer, elapsed, peer_result
from tuner.study import suggest
from tuner.training.objective import fit_and_measure


def run(arm: str, run: ArmRun) -> dict[str, Any]:
    """optuna_tpe or optuna_random."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kind = optuna.samplers.TPESampler if arm == "optuna_tpe" else optuna.samplers.RandomSampler
    sampler = kind(seed=run.seed)
    confirm = Confirmer(run)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    epochs = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal epochs
        config = suggest(trial, confirm.spec.space)
        keras.backend.clear_session()
        seed = run.seed + trial.number
        result = fit_and_measure(config, confirm.data.train, confirm.data.validation, seed=seed)
        epochs += config["epochs"]
        if confirm.passes(
            config,
            trial=trial.number,
            val_accuracy=result["val_accuracy"],
            gap=result["gap"],
        ):
            trial.study.stop()
        return result["val_accuracy"]

    def over_budget(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        if elapsed() > run.budget_seconds:
            study.stop()

    study.optimize(objective, callbacks=[over_budget], gc_after_trial=True)
    return peer_result(confirm, trials=len(study.trials), epochs=epochs)
