"""K weight seeds of one config trained together: one model, one fit, K independent replicas.

For these small nets a fit's cost is Keras' per-step overhead, not arithmetic, so training K
replicas of a config in one fit costs far less than K fits. Inside the model every tensor
carries a replica axis first, (K, batch, ...), so that one batched matmul serves all replicas
without transposes; the output is (batch, K, 10), as the labels are:
- each replica has its own weights: a dense kernel is (K, in, out), drawn per replica as a
  separate Dense layer's would be;
- each has its own dropout, noise and shift draws (they are drawn per element, or per image);
- all see the same batches, in the same order;
- the loss is the sum of the replicas' losses, so each replica's gradient is exactly its own
  loss's, as in a separate fit, and the optimizers (all elementwise) update each on its own.
The logs report the mean over replicas ("accuracy", "val_accuracy", "loss", "val_loss");
`per_replica_accuracy` measures each replica as a separate fit's `evaluate` would.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops


class Replicate(keras.layers.Layer):
    """(batch, features) -> (K, batch, features): every replica gets the same input rows."""

    def __init__(self, replicas: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replicas = replicas

    def call(self, x: Any) -> Any:
        return ops.repeat(ops.expand_dims(x, 0), self.replicas, axis=0)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (self.replicas, *input_shape)


class ReplicaDense(keras.layers.Layer):
    """A Dense layer per replica on (K, batch, in): kernel (K, in, units), bias (K, units).
    `batch_first` gives the output as (batch, K, units), for the model's last layer."""

    def __init__(
        self,
        replicas: int,
        units: int,
        activation: str | None = None,
        kernel_regularizer: keras.regularizers.Regularizer | None = None,
        batch_first: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.replicas, self.units, self.batch_first = replicas, units, batch_first
        self.activation = keras.activations.get(activation)
        self.kernel_regularizer = kernel_regularizer

    def build(self, input_shape: tuple) -> None:
        fan_in = int(input_shape[-1])
        # Glorot uniform as a (fan_in, units) Dense kernel draws it; Keras' own initializer
        # would count the replica axis into the fans.
        limit = math.sqrt(6.0 / (fan_in + self.units))
        self.kernel = self.add_weight(
            shape=(self.replicas, fan_in, self.units),
            initializer=keras.initializers.RandomUniform(-limit, limit),
            regularizer=self.kernel_regularizer,
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.replicas, self.units), initializer="zeros", name="bias"
        )

    def call(self, x: Any) -> Any:
        y = self.activation(ops.matmul(x, self.kernel) + ops.expand_dims(self.bias, 1))
        return ops.transpose(y, (1, 0, 2)) if self.batch_first else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        replicas, batch = input_shape[0], input_shape[1]
        return (batch, replicas, self.units) if self.batch_first else (replicas, batch, self.units)


class ReplicaShift(keras.layers.Layer):
    """Random shifts of up to `factor` of the image size, in training only: of each replica's
    copy of each image, drawn independently. A plain model uses `translation` itself."""

    def __init__(self, factor: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.translation = keras.layers.RandomTranslation(
            factor, factor, fill_mode="constant", name=kwargs.get("name", "shift")
        )
        # Keras marks the layer unfit for XLA (TensorFlow's image transform op has no XLA
        # kernel), and one such layer makes JAX run the whole train step uncompiled, many times
        # slower. JAX's transform compiles; TensorFlow stays as Keras chooses.
        if keras.backend.backend() == "jax":
            self.translation.supports_jit = True

    def call(self, x: Any, training: bool | None = None) -> Any:
        shape = ops.shape(x)
        images = ops.reshape(x, (-1, 28, 28, 1))
        return ops.reshape(self.translation(images, training=training), shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


def summed_over_replicas(loss: str) -> Any:
    """A per-sample loss over (batch, K, 10): the sum of each replica's own loss."""
    base = keras.losses.get(loss)

    def replica_loss(y_true: Any, y_pred: Any) -> Any:
        return ops.sum(base(y_true, y_pred), axis=-1)

    replica_loss.__name__ = f"{loss}_summed_over_replicas"
    return replica_loss


def replicated_labels(y: np.ndarray, replicas: int) -> np.ndarray:
    """(n, 10) one-hot -> (n, K, 10): every replica is trained on the same labels."""
    return np.repeat(y[:, None, :], replicas, axis=1)


def per_replica_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each replica's exact share of correct rows (k/n), dropout and noise off."""
    predicted = model.predict(x, batch_size=2048, verbose=0).argmax(axis=-1)  # (n, K)
    return (predicted == y.argmax(axis=1)[:, None]).sum(axis=0) / len(x)


def l2_per_replica(model: keras.Model) -> np.ndarray:
    """Each replica's L2 penalty (K,), the part of a separate fit's loss its kernels add."""
    penalty = 0.0
    for layer in model.layers:
        if isinstance(layer, ReplicaDense) and layer.kernel_regularizer is not None:
            l2 = float(layer.kernel_regularizer.get_config()["l2"])
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            penalty = penalty + l2 * np.square(kernel).sum(axis=(1, 2))
    return np.asarray(penalty)


class MeanLossOverReplicas(keras.callbacks.Callback):
    """The logs' loss and val_loss as one replica's (the mean), not the sum the fit minimizes.

    It must come before Keras' History in the fit's list, so the curves record the mean."""

    def __init__(self, replicas: int) -> None:
        super().__init__()
        self.replicas = replicas

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key in ("loss", "val_loss"):
            if logs is not None and key in logs:
                logs[key] = float(logs[key]) / self.replicas
