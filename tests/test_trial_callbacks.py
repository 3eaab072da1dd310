"""The trial's callbacks in one Keras fit: they share the epoch logs, Keras' History does not."""

from __future__ import annotations

from pathlib import Path

import optuna

from tuner.study import load_study_spec, suggest
from tuner.training.callbacks import TRAIN_EVAL_KEY, trial_callbacks
from tuner.training.data import load_search_data
from tuner.training.objective import fit_and_measure


def test_callbacks_read_what_earlier_ones_wrote_and_history_keeps_the_fits_metrics(
    tiny_study, mnist_path
):
    path = Path(tiny_study(epochs=2))
    path.write_text('metric = "capstone_margin"\n' + path.read_text())
    spec = load_study_spec(str(path))
    data = load_search_data(mnist_path, train_rows=300, validation_rows=(6000, 6500))
    study = optuna.create_study(direction=spec.direction)
    trial = study.ask()
    callbacks = trial_callbacks(trial, spec, data.train)
    config = suggest(trial, spec.space)
    result = fit_and_measure(
        config, data.train, data.validation, seed=0, callbacks=callbacks.for_fit()
    )
    curves = callbacks.report.history
    # TrainAccuracy wrote the train accuracy, CapstoneMargin read it, ReportAndPrune kept both.
    assert len(curves[TRAIN_EVAL_KEY]) == 2 and len(curves["capstone_margin"]) == 2
    assert study.trials[0].intermediate_values == {
        0: curves["capstone_margin"][0],
        1: curves["capstone_margin"][1],
    }
    assert callbacks.train_eval_seconds > 0
    # Keras' History ran first: the fit's own curves, none of the keys ours added.
    assert set(result["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
