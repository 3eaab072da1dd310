"""Finished trials written straight through the Optuna API, with the record a real trial gets
from tuner.training.objective, built by tuner.study.record. For tests of what *shows* a study
(dashboard, plots), where training hundreds of models would prove nothing more."""

from __future__ import annotations

import random

import optuna
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from tuner.study import record

DISTRIBUTIONS = {
    "n_layers": IntDistribution(1, 2),
    "units_1": CategoricalDistribution([16, 32]),
    "learning_rate": FloatDistribution(1e-3, 1e-2, log=True),
}


def add_trials(
    study: optuna.Study, n: int, *, epochs: int = 3, seed: int = 0, prune_every: int = 0
) -> None:
    """Add n finished trials; every `prune_every`-th one is pruned after its first epoch."""
    rng = random.Random(seed)
    trials = []
    for i in range(n):
        params = {
            "n_layers": rng.randint(1, 2),
            "units_1": rng.choice([16, 32]),
            "learning_rate": 10 ** rng.uniform(-3, -2),
        }
        train = [min(0.99, 0.6 + 0.1 * e + 0.1 * rng.random()) for e in range(epochs)]
        val = [a - 0.05 * rng.random() for a in train]
        pruned = prune_every and i % prune_every == prune_every - 1
        history = (
            {"accuracy": train[:1], "val_accuracy": val[:1]}
            if pruned
            else {"accuracy": train, "val_accuracy": val}
        )
        steps = history["val_accuracy"]
        attrs = record.setup_attrs({**params, "epochs": epochs}, seed=3 + i)
        if pruned:
            attrs.update(record.pruned_attrs(reason="pruner", epoch=1, history=history))
            trials.append(
                optuna.trial.create_trial(
                    state=TrialState.PRUNED,
                    params=params,
                    distributions=DISTRIBUTIONS,
                    user_attrs=attrs,
                    intermediate_values=dict(enumerate(steps)),
                )
            )
            continue
        gap = train[-1] - val[-1]
        measured = record.Measurements(
            train_accuracy=train[-1],
            val_accuracy=val[-1],
            gap=gap,
            fit_seconds=round(rng.uniform(1, 3), 3),
            history=history,
            feasible=abs(gap) <= 0.02 and val[-1] >= 0.5,
        )
        attrs.update(measured.attrs())
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=DISTRIBUTIONS,
                value=val[-1],
                user_attrs=attrs,
                intermediate_values=dict(enumerate(steps)),
                constraints={"gap": abs(gap) - 0.02, "accuracy": 0.5 - val[-1]},
            )
        )
    study.add_trials(trials)
