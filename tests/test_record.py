"""tuner.study.record: the stored keys, the round trip through a trial, the one ranking."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tuner.study import record


def finished(value: float, *, feasible: bool) -> optuna.trial.FrozenTrial:
    return create_trial(value=value, constraints={"gap": -1.0 if feasible else 1.0})


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("maximize", [0.7, 0.6, 0.9, 0.8]), ("minimize", [0.6, 0.7, 0.8, 0.9])],
)
def test_ranked_puts_feasible_first_then_the_better_value(direction, expected):
    trials = [
        finished(0.6, feasible=True),
        finished(0.9, feasible=False),
        finished(0.7, feasible=True),
        finished(0.8, feasible=False),
        create_trial(state=TrialState.PRUNED),
    ]
    study = optuna.create_study(direction=direction)
    ranked = record.ranked(trials, study.direction)
    assert [t.value for t in ranked] == expected
    study.add_trials(trials)
    best, feasible = record.best_trial(study)
    assert (best.value, feasible) == (expected[0], True)


def test_best_trial_falls_back_to_the_best_infeasible_one():
    study = optuna.create_study(direction="maximize")
    study.add_trials([finished(0.5, feasible=False), finished(0.8, feasible=False)])
    best, feasible = record.best_trial(study)
    assert (best.value, feasible) == (0.8, False)
    assert record.best_trial(optuna.create_study()) == (None, False)


def test_a_trials_record_round_trips_under_the_stored_key_names():
    study = optuna.create_study()
    trial = study.ask()
    record.write_setup(trial, {"epochs": 2}, seed=7)
    record.write_worker(trial, "host:1")
    measured = record.Measurements(
        train_accuracy=0.9,
        val_accuracy=0.85,
        gap=0.05,
        fit_seconds=1.5,
        history={"val_accuracy": [0.8, 0.85]},
        feasible=True,
    )
    measured.write(trial)
    study.tell(trial, 0.85)
    frozen = study.trials[0]
    # Existing databases and the dashboard hold these exact strings.
    assert frozen.user_attrs == {
        "config": {"epochs": 2},
        "seed": 7,
        "worker": "host:1",
        "train_accuracy": 0.9,
        "val_accuracy": 0.85,
        "gap": 0.05,
        "fit_seconds": 1.5,
        "history": {"val_accuracy": [0.8, 0.85]},
        "feasible": True,
    }
    assert record.Measurements.read(frozen) == measured
    assert (record.config(frozen), record.seed(frozen), record.worker(frozen)) == (
        {"epochs": 2},
        7,
        "host:1",
    )


def test_a_pruned_record_has_reason_epoch_and_curves_and_no_measurements():
    study = optuna.create_study()
    trial = study.ask()
    record.write_pruned(trial, reason="diverged", epoch=3, history={"loss": [1.0, 0.5, None]})
    study.tell(trial, state=TrialState.PRUNED)
    frozen = study.trials[0]
    assert frozen.user_attrs == {
        "prune_reason": "diverged",
        "pruned_epoch": 3,
        "history": {"loss": [1.0, 0.5, None]},
    }
    assert record.Measurements.read(frozen) is None
    assert record.count_trials(study.trials).prune_reasons == {"diverged": 1}


def test_study_provenance_and_target_round_trip():
    study = optuna.create_study()
    assert record.target_trials(study, 5) == 5 and not record.has_target(study)
    record.write_target(study, 12)
    record.Provenance(data_digest="abc", data={"train_rows": 6000}).write(study)
    assert study.user_attrs["target_trials"] == 12 and study.user_attrs["data_digest"] == "abc"
    assert record.target_trials(study, 5) == 12
    assert record.Provenance.read(study).data == {"train_rows": 6000}
