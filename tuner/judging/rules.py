"""The capstone rules, checked the same way for every run, and the Wilson pass-rate interval.

Thresholds come from the study file's [capstone] table (tuner.study.Capstone), nowhere else.
Accuracies are exact fractions of correct rows, so the boundaries are exact: 0.87 passes,
0.8699 fails, and a gap of 0.0100 fails (the rule is strict).
"""

from __future__ import annotations

import math

import numpy as np

from tuner.study import Capstone
from tuner.training.data import RawMnist, Split, capstone_test, capstone_train

RULES = ("test_accuracy", "gap", "epochs", "data_definitions")
_DECIMALS = 10  # accuracies are k/6000 and k/10000: round away float noise before comparing


def check_rules(
    *,
    test_accuracy: float,
    train_accuracy: float,
    epochs: int,
    data_unchanged: bool,
    rules: Capstone,
) -> dict[str, bool]:
    gap = round(abs(train_accuracy - test_accuracy), _DECIMALS)
    return {
        "test_accuracy": round(test_accuracy, _DECIMALS) >= rules.min_test_accuracy,
        "gap": gap < rules.max_gap,
        "epochs": epochs == rules.epochs,
        "data_definitions": data_unchanged,
    }


def data_definitions_unchanged(train: Split, test: Split, raw: RawMnist) -> bool:
    """True when the arrays are exactly the course's X_train/X_test and one-hot labels."""
    want_train, want_test = capstone_train(raw), capstone_test(raw)
    return all(
        a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
        for a, b in (
            (train.x, want_train.x),
            (train.y, want_train.y),
            (test.x, want_test.x),
            (test.y, want_test.y),
        )
    )


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if n <= 0:
        raise ValueError(f"need at least one trial for an interval, got {n=}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within [0, n], got {successes=} and {n=}")
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)
