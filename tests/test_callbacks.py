"""The trial callback: divergence, the overfitting rules and the pruner, each with its reason.

The table drives `on_epoch_end` directly with crafted logs, on a real Optuna trial; the train
accuracy the gap rule needs is fed in the logs (`train_eval_accuracy`), which the callback uses
instead of measuring. Two real fits then check the whole path through the objective.
"""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from tuner.study import OverfitSpec, parse_study
from tuner.training.callbacks import TRAIN_EVAL_KEY, ReportAndPrune
from tuner.training.data import load_search_data
from tuner.training.objective import Objective

RULES = OverfitSpec(warmup_epochs=2, patience=3, max_gap=0.05)


def epochs(n, *, loss=None, val_loss=None, train_acc=None, val_acc=None):
    """n epochs of logs; each argument is a function of the 1-based epoch number."""
    loss = loss or (lambda e: 1.0 / e)  # falling
    val_loss = val_loss or (lambda e: 1.2 / e)  # falling
    val_acc = val_acc or (lambda e: 0.80 + 0.01 * min(e, 2))  # improves, then plateaus
    train_acc = train_acc or (lambda e: val_acc(e) + 0.01)  # a small, steady gap
    return [
        {
            "loss": loss(e),
            "accuracy": train_acc(e) - 0.02,
            "val_loss": val_loss(e),
            "val_accuracy": val_acc(e),
            TRAIN_EVAL_KEY: train_acc(e),
        }
        for e in range(1, n + 1)
    ]


def replace_at(logs, epoch, **values):
    logs[epoch - 1].update(values)
    return logs


def v_shape(bottom):
    """Falls until epoch `bottom`, then rises every epoch."""
    return lambda e: 1.0 - 0.05 * min(e, bottom) + 0.04 * max(0, e - bottom)


CASES = {
    # name: (logs, settings, expected (reason, epoch) or None)
    "healthy": (epochs(20), RULES, None),
    "widening gap": (  # gap 0.02, 0.04, 0.06, ...: over 0.05 from epoch 3, held 3 epochs at 5
        epochs(20, train_acc=lambda e: 0.80 + 0.01 * e + 0.02 * e),
        RULES,
        ("overfitting-gap", 5),
    ),
    "gap during warm-up only counts after it": (
        epochs(20, train_acc=lambda e: 1.0, val_acc=lambda e: 0.80),
        OverfitSpec(warmup_epochs=4, patience=3, max_gap=0.05),
        ("overfitting-gap", 7),
    ),
    "gap that closes resets patience": (
        replace_at(
            epochs(20, train_acc=lambda e: 0.99, val_acc=lambda e: 0.90),
            4,
            **{TRAIN_EVAL_KEY: 0.91},
        ),
        RULES,
        ("overfitting-gap", 7),
    ),
    "gap exactly at the limit is not over it": (
        epochs(20, train_acc=lambda e: 0.875, val_acc=lambda e: 0.75),
        OverfitSpec(warmup_epochs=2, patience=3, max_gap=0.125),
        None,
    ),
    "val loss rises while train loss falls": (  # rises at 7, 8, 9
        epochs(20, val_loss=v_shape(6)),
        RULES,
        ("overfitting-loss", 9),
    ),
    "val loss rises before warm-up ends": (  # rises from 2; epochs 3, 4, 5 count
        epochs(20, val_loss=v_shape(1)),
        RULES,
        ("overfitting-loss", 5),
    ),
    "overfitting while val accuracy still improves is left alone": (
        epochs(20, val_loss=v_shape(6), val_acc=lambda e: 0.80 + 0.005 * e),
        RULES,
        None,
    ),
    "val and train loss both rise: not overfitting": (
        epochs(20, loss=v_shape(6), val_loss=v_shape(6)),
        RULES,
        None,
    ),
    "val loss rise interrupted": (
        replace_at(epochs(20, val_loss=v_shape(6)), 8, val_loss=0.1),
        RULES,
        ("overfitting-loss", 11),
    ),
    "loss rule only ignores the gap": (
        epochs(20, train_acc=lambda e: 1.0, val_acc=lambda e: 0.8),
        OverfitSpec(rules=("loss",), warmup_epochs=2, patience=3),
        None,
    ),
    "disabled rules never fire": (
        epochs(20, train_acc=lambda e: 1.0, val_acc=lambda e: 0.8, val_loss=v_shape(6)),
        OverfitSpec(enabled=False),
        None,
    ),
    "NaN loss": (replace_at(epochs(20), 3, loss=float("nan")), RULES, ("diverged", 3)),
    "inf loss in warm-up": (replace_at(epochs(20), 1, loss=float("inf")), RULES, ("diverged", 1)),
    "divergence wins over overfitting": (
        replace_at(epochs(20, val_loss=v_shape(1)), 5, loss=float("nan")),
        RULES,
        ("diverged", 5),
    ),
}


def drive(callback: ReportAndPrune, logs: list[dict]) -> int | None:
    """Feed the epochs in order; return the 1-based epoch the trial was pruned at, or None."""
    for epoch, row in enumerate(logs):
        try:
            callback.on_epoch_end(epoch, dict(row))
        except optuna.TrialPruned:
            return epoch + 1
    return None


@pytest.mark.parametrize("name", list(CASES))
def test_callback_rules(name):
    logs, settings, expected = CASES[name]
    study = optuna.create_study(direction="maximize")  # median pruner, never prunes a lone trial
    trial = study.ask()
    callback = ReportAndPrune(trial, overfit=settings)
    stopped = drive(callback, logs)
    attrs = study.trials[0].user_attrs

    if expected is None:
        assert stopped is None, f"pruned at {stopped}: {attrs.get('prune_reason')}"
        assert "prune_reason" not in attrs
        assert len(callback.history["loss"]) == len(logs)
        return
    reason, epoch = expected
    assert (attrs["prune_reason"], attrs["pruned_epoch"], stopped) == (reason, epoch, epoch)
    history = attrs["history"]
    assert len(history["val_accuracy"]) == epoch  # the curves so far, not beyond
    assert history["val_accuracy"] == pytest.approx([row["val_accuracy"] for row in logs[:epoch]])
    if reason != "diverged":  # every epoch before the stop was reported to the pruner
        assert sorted(study.trials[0].intermediate_values) == list(range(epoch))


def test_study_pruner_prunes_with_reason_pruner():
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.9, n_warmup_steps=3)
    )
    trial = study.ask()
    stopped = drive(ReportAndPrune(trial, overfit=RULES), epochs(20, val_acc=lambda e: 0.5))
    attrs = study.trials[0].user_attrs
    assert (stopped, attrs["prune_reason"], attrs["pruned_epoch"]) == (4, "pruner", 4)


def test_missing_metric_warns_once_and_reports_nothing():
    study = optuna.create_study()
    callback = ReportAndPrune(study.ask(), overfit=OverfitSpec(enabled=False))
    with pytest.warns(
        UserWarning, match="'val_accuracy' is not in the epoch logs.*available: loss"
    ):
        callback.on_epoch_end(0, {"loss": 0.5})
    callback.on_epoch_end(1, {"loss": 0.4})
    assert study.trials[0].intermediate_values == {}


# Real fits through the objective. Few rows, no dropout, many epochs: memorizes at once.
def fit_study(mnist_path, *, train_rows, epochs, overfit, **space):
    raw = {
        "name": "fit",
        "n_trials": 1,
        "data": {"train_rows": train_rows, "validation_rows": [6000, 7000]},
        "sampler": {"name": "random", "seed": 0},
        "overfit": overfit,
        "space": {
            "n_layers": 2,
            "units": 128,
            "epochs": epochs,
            "rescale": True,
            "batch_size": 32,
            "learning_rate": 1e-3,
            "optimizer": "adam",
            **space,
        },
    }
    spec = parse_study(raw, path="fit.toml")
    data = load_search_data(mnist_path, train_rows=train_rows, validation_rows=(6000, 7000))
    study = optuna.create_study(
        direction="maximize", sampler=spec.make_sampler(), pruner=spec.make_pruner()
    )
    study.optimize(Objective(spec, data), n_trials=1)
    return study.trials[0]


def test_real_fit_that_overfits_is_pruned_for_overfitting(mnist_path):
    trial = fit_study(
        mnist_path,
        train_rows=300,
        epochs=40,
        overfit={"warmup_epochs": 3, "patience": 3, "max_gap": 0.05},
    )
    attrs = trial.user_attrs
    assert trial.state == TrialState.PRUNED
    assert attrs["prune_reason"] in ("overfitting-gap", "overfitting-loss")
    assert 6 <= attrs["pruned_epoch"] < 40
    measured = attrs["history"][TRAIN_EVAL_KEY]
    assert measured[:3] == [None, None, None]  # not measured during the warm-up
    assert len(measured) == attrs["pruned_epoch"] and all(0 <= v <= 1 for v in measured[3:])
    assert attrs["train_eval_seconds"] > 0


def test_real_healthy_fit_completes(mnist_path):
    trial = fit_study(
        mnist_path,
        train_rows=3000,
        epochs=6,
        dropout=0.3,
        overfit={"warmup_epochs": 2, "patience": 3, "max_gap": 0.08},
    )
    attrs = trial.user_attrs
    assert trial.state == TrialState.COMPLETE, attrs.get("prune_reason")
    history = attrs["history"]
    assert len(history["loss"]) == 6 and len(history[TRAIN_EVAL_KEY]) == 6
    gaps = [
        t - v for t, v in zip(history[TRAIN_EVAL_KEY][2:], history["val_accuracy"][2:], strict=True)
    ]
    assert all(math.isfinite(g) and g <= 0.08 for g in gaps)
    # The measured train accuracy (dropout off, subsample) agrees with the full evaluation.
    assert history[TRAIN_EVAL_KEY][-1] == pytest.approx(attrs["train_accuracy"], abs=0.03)
