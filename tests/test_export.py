"""Which trial `tuner.export` picks: the best feasible one, checked against the study's own
numbers, and the best infeasible one (marked unverified, with a warning) when no trial is
feasible. Studies without a goal have no confirmed config, so these exports are unverified."""

from __future__ import annotations

import json

import optuna
from conftest import run_module
from optuna.distributions import FloatDistribution

from tuner.execution.create import create_study
from tuner.study import DEFAULTS, load_study_spec, record

CONFIG = {k: v for k, v in DEFAULTS.items() if k != "units"} | {"layers": [16]}


def study_of(tmp_path, tiny_study, scores: list[tuple[float, bool]]) -> str:
    """A study whose trials score `value` and meet the constraints or not; returns its URL."""
    url = f"sqlite:///{tmp_path / 'export.db'}"
    study = create_study(load_study_spec(tiny_study()), url, n_trials=1, data_digest="d" * 64)
    for i, (value, feasible) in enumerate(scores):
        attrs = record.setup_attrs(CONFIG, seed=i)
        attrs.update(
            record.Measurements(
                train_accuracy=value,
                val_accuracy=value,
                gap=0.0,
                fit_seconds=1.0,
                history={"accuracy": [value], "val_accuracy": [value]},
                feasible=feasible,
            ).attrs()
        )
        excess = -0.01 if feasible else 0.05  # Optuna: feasible when every constraint <= 0
        study.add_trial(
            optuna.trial.create_trial(
                params={"learning_rate": 0.001 * (i + 1)},
                distributions={"learning_rate": FloatDistribution(1e-4, 1.0, log=True)},
                value=value,
                user_attrs=attrs,
                constraints={"gap": excess, "accuracy": -0.1},
            )
        )
    return url


def export(tmp_path, tiny_study, url: str):
    out = tmp_path / "best.json"
    result = run_module(
        "tuner.export", "--study", tiny_study(), "--storage", url, "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result


def test_export_picks_the_best_feasible_trial_not_the_best_one(tmp_path, tiny_study):
    scores = [(0.91, True), (0.97, False), (0.93, True), (0.80, True)]
    url = study_of(tmp_path, tiny_study, scores)
    payload, _ = export(tmp_path, tiny_study, url)
    best_feasible = max((i for i, (_, ok) in enumerate(scores) if ok), key=lambda i: scores[i][0])
    assert best_feasible == 2 and payload["best_trial"] == 2  # not #1, the infeasible 0.97
    assert payload["feasible"] is True and payload["metrics"]["objective"] == 0.93


def test_export_falls_back_to_the_best_infeasible_trial_and_says_so(tmp_path, tiny_study):
    url = study_of(tmp_path, tiny_study, [(0.91, False), (0.95, False), (0.90, False)])
    payload, result = export(tmp_path, tiny_study, url)
    assert payload["best_trial"] == 1 and payload["feasible"] is False
    assert payload["verified"] is False and payload["verdict"] is None
    assert payload["summary"] == "infeasible on validation, not judged on the capstone split"
    assert "infeasible on validation" in result.stdout
    assert "warning: not verified" in result.stderr and '"verified": false' in result.stderr
