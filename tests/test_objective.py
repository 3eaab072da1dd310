"""The objective on a real tiny fit: recorded attributes, constraints, seed re-runs."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from tuner.study import load_study_spec
from tuner.training.data import load_search_data
from tuner.training.objective import Objective


@pytest.fixture(scope="module")
def tiny_data(mnist_path):
    return load_search_data(mnist_path, train_rows=600, validation_rows=(6000, 7000))


def run_one(spec, data):
    study = optuna.create_study(direction=spec.direction, sampler=spec.make_sampler())
    study.optimize(Objective(spec, data), n_trials=1)
    return study.trials[0]


def test_single_run_records_metrics_and_constraints(tiny_study, tiny_data):
    spec = load_study_spec(tiny_study())
    trial = run_one(spec, tiny_data)
    attrs = trial.user_attrs
    assert trial.value == attrs["val_accuracy"]
    assert math.isclose(attrs["gap"], attrs["train_accuracy"] - attrs["val_accuracy"])
    assert trial.constraints["gap"] == pytest.approx(abs(attrs["gap"]) - spec.constraints.max_gap)
    assert trial.constraints["accuracy"] == pytest.approx(
        spec.constraints.min_val_accuracy - attrs["val_accuracy"]
    )
    assert attrs["feasible"] == all(v <= 0 for v in trial.constraints.values())
    assert len(attrs["history"]["val_accuracy"]) == 1 and trial.intermediate_values == {
        0: attrs["val_accuracy"]
    }
    assert "replicas" not in attrs  # no robustness table: one seed


def test_a_trial_on_several_seeds_is_judged_by_its_worst_and_scored_mean_minus_std(
    tiny_study, tiny_data
):
    spec = load_study_spec(tiny_study(extra="[robustness]\nseeds = 3\n"))
    trial = run_one(spec, tiny_data)
    attrs = trial.user_attrs
    assert attrs["replicas"] == 3
    accs = attrs["val_accuracies"]
    assert len(accs) == 3 and len(set(accs)) > 1, "different seeds should give different runs"
    assert attrs["val_accuracy"] == pytest.approx(sum(accs) / 3)
    excess = spec.constraints.gap_excess
    assert excess(attrs["worst_gap"]) == max(excess(g) for g in attrs["gaps"])
    assert trial.constraints["accuracy"] == pytest.approx(
        spec.constraints.min_val_accuracy - min(accs)
    )
    mean = sum(accs) / 3
    std = (sum((a - mean) ** 2 for a in accs) / 2) ** 0.5
    assert trial.value == pytest.approx(mean - std)


def test_pruned_trials_carry_constraints(tiny_study, tiny_data):
    """Without constraints TPE would treat a pruned trial as feasible."""
    spec = load_study_spec(
        tiny_study(
            epochs=3,
            extra='[pruner]\nname = "percentile"\npercentile = 0.0\n'
            "n_startup_trials = 0\nn_warmup_steps = 0\n",
        )
    )
    study = optuna.create_study(direction=spec.direction, pruner=spec.make_pruner())
    study.add_trial(
        optuna.trial.create_trial(value=1.0, intermediate_values={0: 1.0, 1: 1.0, 2: 1.0})
    )
    study.optimize(Objective(spec, tiny_data), n_trials=1)
    pruned = study.trials[-1]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    best = max(pruned.user_attrs["history"]["val_accuracy"])
    assert pruned.constraints["accuracy"] == pytest.approx(spec.constraints.min_val_accuracy - best)


def test_capstone_margin_is_the_slack_on_the_tighter_rule(tiny_study, tiny_data):
    """metric capstone_margin: per-epoch margins go to the pruner, the final one is the value,
    and it is non-negative exactly when the trial is feasible."""
    path = Path(tiny_study(epochs=2))
    path.write_text(
        'metric = "capstone_margin"\n'
        + path.read_text().replace("max_gap = 0.2", "max_gap = 0.05\ngap_offset = 0.02")
    )
    spec = load_study_spec(str(path))
    trial = run_one(spec, tiny_data)
    attrs = trial.user_attrs
    gap_slack = 0.05 - abs(attrs["gap"] - 0.02)
    accuracy_slack = attrs["val_accuracy"] - 0.5
    assert trial.value == pytest.approx(min(gap_slack, accuracy_slack))
    assert attrs["capstone_margin"] == trial.value
    assert attrs["feasible"] == (trial.value >= 0)
    assert trial.constraints["gap"] == pytest.approx(-gap_slack)
    history = attrs["history"]
    assert len(history["train_eval_accuracy"]) == 2  # measured every epoch for the margin
    assert trial.intermediate_values == {
        0: history["capstone_margin"][0],
        1: history["capstone_margin"][1],
    }
