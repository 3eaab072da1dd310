"""K weight seeds of one config in one fit (tuner.training.replicas), on small slices."""

from __future__ import annotations

import keras
import numpy as np
import optuna
import pytest
from conftest import SMALL_CONFIG

from tuner.study import load_study_spec
from tuner.training.data import load_search_data
from tuner.training.model import build_model
from tuner.training.objective import Objective, fit_and_measure
from tuner.training.replicas import per_replica_accuracy, replicated_labels

CONFIG = {**SMALL_CONFIG, "layers": [32, 16], "epochs": 2, "input_dropout": 0.1, "l2": 1e-4}


@pytest.fixture(scope="module")
def tiny_data(mnist_path):
    return load_search_data(mnist_path, train_rows=600, validation_rows=(6000, 7000))


def test_replicas_start_from_different_weights_and_end_with_different_accuracies(tiny_data):
    keras.utils.set_random_seed(1)
    model = build_model(CONFIG, 4)
    kernel = keras.ops.convert_to_numpy(model.get_layer("hidden_1").kernel)
    assert kernel.shape == (4, 784, 32)
    assert len({kernel[k].tobytes() for k in range(4)}) == 4
    # Each replica's kernel drawn as a separate Dense layer's is: glorot uniform, fans 784 and 32.
    assert np.abs(kernel).max() <= np.sqrt(6 / (784 + 32))
    assert np.abs(kernel).max() > 0.9 * np.sqrt(6 / (784 + 32))

    result = fit_and_measure(CONFIG, tiny_data.train, tiny_data.validation, seed=1, replicas=4)
    runs = result["replicas"]
    assert len(runs) == 4 and len({r["val_accuracy"] for r in runs}) > 1
    assert result["val_accuracy"] == pytest.approx(np.mean([r["val_accuracy"] for r in runs]))
    # The logs hold the mean over replicas, the loss included (the fit minimizes the sum).
    assert result["history"]["val_accuracy"][-1] == pytest.approx(result["val_accuracy"])
    assert result["history"]["val_loss"][-1] == pytest.approx(
        np.mean([r["val_loss"] for r in runs]), rel=1e-4
    )


@pytest.mark.parametrize("optimizer, loss", [("sgd", "mean_squared_error"), ("adam", None)])
def test_each_replica_trains_as_a_separate_fit_of_its_own_weights(tiny_data, optimizer, loss):
    """Replica 0 given a plain model's initial weights ends where the plain model ends, on the
    same batches: its gradient is its own loss's (the loss is summed, not averaged, over
    replicas: SGD would take K-times smaller steps), untouched by replica 1."""
    config = {
        **CONFIG,
        "dropout": 0.0,
        "input_noise": 0.0,
        "input_dropout": 0.0,
        "shift": 0.0,
        "optimizer": optimizer,
        "learning_rate": 0.05 if optimizer == "sgd" else 1e-3,
        "loss": loss or CONFIG["loss"],
    }
    keras.utils.set_random_seed(2)
    plain, replicas = build_model(config), build_model(config, 2)
    for layer in ("hidden_1", "hidden_2", "output"):
        kernel, bias = plain.get_layer(layer).get_weights()
        r_kernel, r_bias = replicas.get_layer(layer).get_weights()
        r_kernel[0], r_bias[0] = kernel, bias
        replicas.get_layer(layer).set_weights([r_kernel, r_bias])
    x, y = tiny_data.train.x, tiny_data.train.y
    plain.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    replicas.fit(x, replicated_labels(y, 2), batch_size=64, epochs=2, shuffle=False, verbose=0)
    for layer in ("hidden_1", "hidden_2", "output"):
        np.testing.assert_allclose(
            replicas.get_layer(layer).get_weights()[0][0],
            plain.get_layer(layer).get_weights()[0],
            atol=2e-5,
        )
    val = tiny_data.validation
    plain_accuracy = float((plain.predict(val.x, verbose=0).argmax(1) == val.y.argmax(1)).mean())
    assert per_replica_accuracy(replicas, val.x, val.y)[0] == pytest.approx(plain_accuracy)


def test_one_seed_trains_the_plain_model_as_before(tiny_study, tiny_data):
    """[robustness] seeds = 1 is a single plain fit: the trial's figures are fit_and_measure's
    for its seed."""
    spec = load_study_spec(tiny_study(epochs=2, extra="[robustness]\nseeds = 1\n"))
    study = optuna.create_study(direction=spec.direction, sampler=spec.make_sampler())
    study.optimize(Objective(spec, tiny_data), n_trials=1)
    trial = study.trials[0]
    config, seed = trial.user_attrs["config"], trial.user_attrs["seed"]
    alone = fit_and_measure(config, tiny_data.train, tiny_data.validation, seed=seed)
    assert trial.user_attrs["val_accuracy"] == alone["val_accuracy"]
    assert trial.user_attrs["train_accuracy"] == alone["train_accuracy"]
