"""Search-space sampling with FixedTrial, and the built Keras model matching the params."""

from __future__ import annotations

import optuna
import pytest

from tuner.study import load_study_spec, suggest
from tuner.study.space import ACTIVATIONS, DROPOUT_POSITIONS, LOSSES, OPTIMIZERS
from tuner.training.model import build_model

SPACE = load_study_spec("mnist_mlp").space

BASE = {
    "activation": "sigmoid",
    "dropout": 0.5,
    "dropout_position": "all",
    "loss": "mean_squared_error",
    "optimizer": "momentum",
    "learning_rate": 0.1,
    "batch_size": 64,
    "rescale": True,
    "input_noise": 0.2,
    "input_dropout": 0.1,
    "shift": 0.1,
    "l2": 1e-4,
}


def dense_widths(model):
    return [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]


@pytest.mark.parametrize(
    "params, widths",
    [
        ({"n_layers": 2, "units_1": 256, "units_2": 128}, [256, 128]),
        ({"n_layers": 3, "units_1": 128, "units_2": 128, "units_3": 128}, [128, 128, 128]),
        ({"n_layers": 1, "units_1": 1568}, [1568]),
    ],
)
def test_fixed_trial_builds_the_course_structures(params, widths):
    config = suggest(optuna.trial.FixedTrial({**BASE, **params}), SPACE)
    assert config["layers"] == widths
    assert config["epochs"] == 5  # fixed in the study file, not sampled
    model = build_model(config)
    assert dense_widths(model) == [*widths, 10]
    hidden = [layer for layer in model.layers if layer.name.startswith("hidden_")]
    assert all(layer.activation.__name__ == "sigmoid" for layer in hidden)
    dropouts = [layer.rate for layer in model.layers if layer.name.startswith("dropout_")]
    assert dropouts == [0.5] * len(widths)
    names = [layer.name for layer in model.layers]
    assert names[:6] == [
        "rescale",
        "to_image",
        "shift",
        "to_vector",
        "input_noise",
        "input_dropout",
    ]
    assert model.optimizer.__class__.__name__ == "SGD" and model.optimizer.momentum == 0.9
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)
    assert model.loss == "mean_squared_error"
    expected = sum(a * b + b for a, b in zip([784, *widths], [*widths, 10], strict=True))
    assert model.count_params() == expected


@pytest.mark.parametrize(
    "position, expected",
    [
        ("all", ["dropout_1", "dropout_2", "dropout_3"]),
        ("last", ["dropout_3"]),
        ("second", ["dropout_2"]),
    ],
)
def test_dropout_position(position, expected):
    config = suggest(
        optuna.trial.FixedTrial(
            {
                **BASE,
                "n_layers": 3,
                "units_1": 32,
                "units_2": 32,
                "units_3": 32,
                "dropout_position": "all",
            }
        ),
        SPACE,
    )
    model = build_model({**config, "dropout_position": position})
    assert [layer.name for layer in model.layers if layer.name.startswith("dropout_")] == expected


def test_plain_model_has_no_optional_layers():
    params = {
        **BASE,
        "n_layers": 1,
        "units_1": 32,
        "rescale": False,
        "input_noise": 0.0,
        "input_dropout": 0.0,
        "dropout": 0.0,
        "l2": 0.0,
        "shift": 0.0,
    }
    model = build_model(suggest(optuna.trial.FixedTrial(params), SPACE))
    assert [layer.name for layer in model.layers] == ["hidden_1", "output"]


def test_sampling_stays_inside_the_space():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        config = suggest(trial, SPACE)
        assert 1 <= config["n_layers"] <= 4 and len(config["layers"]) == config["n_layers"]
        assert set(config["layers"]) <= set(SPACE["units"].choices)
        assert 1e-4 <= config["learning_rate"] <= 1.0
        assert 0 <= config["dropout"] <= 0.7
        study.tell(trial, 0.0)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_a_study_may_name_compiles(name):
    config = suggest(optuna.trial.FixedTrial({**BASE, "n_layers": 1, "units_1": 16}), SPACE)
    model = build_model({**config, "optimizer": name})
    optimizer_class, arguments = OPTIMIZERS[name]
    assert model.optimizer.__class__.__name__ == optimizer_class
    assert all(getattr(model.optimizer, k) == v for k, v in arguments.items())


@pytest.mark.parametrize(
    "key, names",
    [("activation", ACTIVATIONS), ("loss", LOSSES), ("dropout_position", DROPOUT_POSITIONS)],
)
def test_every_name_a_study_may_give_builds(key, names):
    config = suggest(
        optuna.trial.FixedTrial({**BASE, "n_layers": 2, "units_1": 16, "units_2": 16}), SPACE
    )
    for name in names:
        assert build_model({**config, key: name}).count_params() > 0
