"""The image shift layer (tuner/training/shift.py) against Keras' own RandomTranslation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tuner.study import DEFAULTS
from tuner.training.data import load_mnist
from tuner.training.model import build_model
from tuner.training.shift import MatmulTranslation


@pytest.fixture(scope="module")
def digits(mnist_path):
    raw = load_mnist(mnist_path)
    return raw.x_train[:256, :, :, None].astype("float32") / 255, raw.y_train[:256]


@pytest.mark.parametrize("factor", [0.05, 0.1, 0.2])
def test_moves_images_as_keras_does_with_the_same_draws(digits, factor):
    images, _ = digits
    keras.utils.set_random_seed(7)
    stock = keras.layers.RandomTranslation(factor, factor, fill_mode="constant")
    keras.utils.set_random_seed(7)
    ours = MatmulTranslation(factor, factor)
    for _ in range(3):  # successive batches: the seed streams stay in step
        expected = keras.ops.convert_to_numpy(stock(images, training=True))
        moved = keras.ops.convert_to_numpy(ours(images, training=True))
        assert np.abs(moved - expected).max() < 1e-6
        assert np.abs(moved - images).max() > 0.5  # the images did move
    assert np.array_equal(keras.ops.convert_to_numpy(ours(images, training=False)), images)


def test_only_the_zero_fill_bilinear_shift_is_accepted():
    with pytest.raises(ValueError, match="bilinear"):
        MatmulTranslation(0.1, 0.1, interpolation="nearest")


def test_models_train_alike_and_the_export_model_is_stock_keras(digits):
    images, labels = digits
    x = (images[..., 0] * 255).reshape(len(images), 784)
    y = keras.utils.to_categorical(labels, 10)
    config = {**DEFAULTS, "layers": [32], "shift": 0.1, "rescale": True, "batch_size": 32}
    losses = {}
    for stock_keras in (False, True):
        keras.utils.set_random_seed(3)
        model = build_model(config, stock_keras=stock_keras)
        shift = model.get_layer("shift")
        assert (type(shift) is keras.layers.RandomTranslation) is stock_keras
        history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
        losses[stock_keras] = history.history["loss"]
    assert np.allclose(losses[False], losses[True], atol=1e-4)
