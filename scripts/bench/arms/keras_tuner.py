"""Keras Tuner, one trial at a time: kt_bayes (BayesianOptimization(seed)) and kt_hyperband
(Hyperband(max_epochs=5, factor=3, seed)). Hyperband trains many models for fewer epochs; only
those trained for all 5 can pass, since the capstone fixes 5 epochs. Needs the bench extra.
"""

from __future__ import annotations

import contextlib
import tempfile
from typing import TYPE_CHECKING, Any, cast

import keras
import keras_tuner as kt

from scripts.bench.confirm import ArmRun, Confirmer, elapsed, peer_result
from tuner.study import suggest
from tuner.training.callbacks import EVAL_BATCH
from tuner.training.model import build_model

if TYPE_CHECKING:
    import optuna


class _Stop(kt.errors.FatalError):
    """Ends the search: the budget is spent, or a config passed."""


class _HpTrial:
    """Lets tuner.study.suggest sample from Keras Tuner's HyperParameters: same space (suggest
    calls only these three methods of an Optuna trial)."""

    def __init__(self, hp: kt.HyperParameters) -> None:
        self.hp = hp

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        value = self.hp.Choice(name, choices)
        # Keras Tuner stores booleans as 0/1; give the model builder the study's type back.
        return bool(value) if all(isinstance(c, bool) for c in choices) else value

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        return self.hp.Int(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return self.hp.Float(name, low, high, step=step, sampling="log" if log else "linear")


class _Mlp(kt.HyperModel):
    """The study's model; `fit` judges every fully trained model by the goal's rule."""

    def __init__(self, confirm: Confirmer, run: ArmRun) -> None:
        super().__init__()
        self.confirm, self.run = confirm, run
        self.trials = self.epochs = 0

    def config(self, hp: kt.HyperParameters) -> dict[str, Any]:
        return suggest(cast("optuna.Trial", _HpTrial(hp)), self.confirm.spec.space)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        if elapsed() > self.run.budget_seconds:
            raise _Stop("budget")
        config = self.config(hp)
        keras.utils.set_random_seed(self.run.seed + self.trials)
        return build_model(config)

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
        config = self.config(hp)
        trial, self.trials = self.trials, self.trials + 1
        last = int(kwargs.get("epochs", config["epochs"]))
        first = int(kwargs.get("initial_epoch", 0))
        history = model.fit(
            x,
            y,
            batch_size=config["batch_size"],
            epochs=last,
            initial_epoch=first,
            validation_data=validation_data,
            validation_batch_size=EVAL_BATCH,
            callbacks=callbacks,
            verbose=0,
        )
        self.epochs += last - first
        val_accuracy = float(history.history["val_accuracy"][-1])
        if last == config["epochs"]:  # only fully trained models can pass a 5-epoch capstone
            train = model.evaluate(x, y, batch_size=EVAL_BATCH, verbose=0, return_dict=True)
            if self.confirm.passes(
                config,
                trial=trial,
                val_accuracy=val_accuracy,
                gap=float(train["accuracy"]) - val_accuracy,
            ):
                raise _Stop("passed")
        return {"val_accuracy": val_accuracy}


def run(arm: str, run: ArmRun) -> dict[str, Any]:
    """kt_bayes or kt_hyperband."""
    confirm = Confirmer(run)
    model = _Mlp(confirm, run)
    common: dict[str, Any] = {
        "objective": kt.Objective("val_accuracy", "max"),
        "seed": run.seed,
        "directory": tempfile.mkdtemp(prefix="bench_kt_"),
        "project_name": arm,
        "overwrite": True,
    }
    tuner: kt.Tuner
    if arm == "kt_bayes":
        tuner = kt.BayesianOptimization(model, max_trials=10_000, **common)
    else:
        epochs = confirm.spec.space["epochs"].value
        tuner = kt.Hyperband(
            model, max_epochs=epochs, factor=3, hyperband_iterations=1000, **common
        )
    train, validation = confirm.data.train, confirm.data.validation
    with contextlib.suppress(_Stop):
        tuner.search(train.x, train.y, validation_data=(validation.x, validation.y), verbose=0)
    return peer_result(confirm, trials=model.trials, epochs=model.epochs)
