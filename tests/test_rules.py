"""Capstone rule checks at their exact boundaries, the data rule, and Wilson intervals."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.judging.rules import check_rules, data_definitions_unchanged, wilson_interval
from tuner.study import Capstone
from tuner.training.data import Split, capstone_test, capstone_train, load_mnist

RULES = Capstone(min_test_accuracy=0.87, max_gap=0.01, epochs=5)


@pytest.mark.parametrize(
    "test_acc, train_acc, epochs, expected",
    [
        (0.87, 0.875, 5, {"test_accuracy": True, "gap": True, "epochs": True}),
        (0.8699, 0.8699, 5, {"test_accuracy": False, "gap": True, "epochs": True}),
        (
            0.8700,
            0.8800,
            5,
            {"test_accuracy": True, "gap": False, "epochs": True},
        ),  # gap 0.0100 fails
        (
            0.8851,
            0.8751,
            5,
            {"test_accuracy": True, "gap": False, "epochs": True},
        ),  # |-0.0100| fails
        (0.8800, 0.8899, 5, {"test_accuracy": True, "gap": True, "epochs": True}),  # 0.0099 passes
        (0.95, 0.95, 10, {"test_accuracy": True, "gap": True, "epochs": False}),
        (0.95, 0.95, 4, {"test_accuracy": True, "gap": True, "epochs": False}),
    ],
)
def test_rule_boundaries(test_acc, train_acc, epochs, expected):
    verdict = check_rules(
        test_accuracy=test_acc,
        train_accuracy=train_acc,
        epochs=epochs,
        data_unchanged=True,
        rules=RULES,
    )
    assert {k: verdict[k] for k in expected} == expected
    assert verdict["data_definitions"] is True


def test_thresholds_come_from_the_rules_object():
    loose = Capstone(min_test_accuracy=0.5, max_gap=0.2, epochs=3)
    verdict = check_rules(
        test_accuracy=0.6, train_accuracy=0.75, epochs=3, data_unchanged=True, rules=loose
    )
    assert all(verdict.values())


def test_data_definition_rule_catches_a_changed_array(mnist_path):
    raw = load_mnist(mnist_path)
    train, test = capstone_train(raw), capstone_test(raw)
    assert data_definitions_unchanged(train, test, raw)
    assert not data_definitions_unchanged(Split(train.x / 255.0, train.y), test, raw)  # scaled
    assert not data_definitions_unchanged(capstone_train(raw, rows=5999), test, raw)  # fewer rows
    shuffled = Split(test.x, np.roll(test.y, 1, axis=0))
    assert not data_definitions_unchanged(train, shuffled, raw)


@pytest.mark.parametrize(
    "k, n, low, high",
    # Reference values from the Wilson formula (statsmodels proportion_confint method="wilson").
    [
        (9, 10, 0.5958, 0.9821),
        (10, 10, 0.7225, 1.0),
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (18, 20, 0.6990, 0.9721),
    ],
)
def test_wilson_interval(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_rejects_nonsense():
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
