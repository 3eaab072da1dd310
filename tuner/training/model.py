"""Build and compile the course's MLP from a config (see tuner.study.space).

What a config may name (activations, losses, optimizers) is plain data in tuner.study.space,
which the study file parser checks against without Keras: the launcher and the synthetic
workers start without TensorFlow. Keras itself is imported by build_model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuner.study.space import OPTIMIZERS

if TYPE_CHECKING:
    import keras

# Training steps per call into the compiled train function: for these small nets Keras' per-call
# overhead costs as much as a step's arithmetic, and several steps per call pay it once, with
# the same results.
STEPS_PER_EXECUTION = 8


def build_model(config: dict[str, Any], replicas: int = 1) -> keras.Model:
    """A Sequential MLP: [Rescaling] [RandomTranslation] [GaussianNoise] [Dropout]
    (Dense [Dropout])* Dense(10). With `replicas` > 1, that many independent copies of it in
    one model (tuner.training.replicas): output (batch, replicas, 10)."""
    import keras  # here, not at the top: see the module docstring

    from tuner.training import replicas as rep

    k = replicas
    regularizer = keras.regularizers.L2(config["l2"]) if config["l2"] > 0 else None

    def dense(width: int, activation: str, name: str) -> keras.layers.Layer:
        if k == 1:
            return keras.layers.Dense(
                width, activation=activation, kernel_regularizer=regularizer, name=name
            )
        return rep.ReplicaDense(
            k, width, activation, regularizer, batch_first=name == "output", name=name
        )

    layers: list[keras.layers.Layer] = [keras.Input(shape=(784,))]
    if k > 1:
        layers.append(rep.Replicate(k, name="replicate"))
    # Scaling lives inside the model: the course's data definitions stay raw 0-255.
    if config["rescale"]:
        layers.append(keras.layers.Rescaling(1.0 / 255, name="rescale"))
    if config["shift"] > 0:
        # Augmentation inside the model, active only while training: each image moves by up
        # to `shift` of its size. The arrays stay the course's; the net stops memorizing them.
        shift = rep.ReplicaShift(config["shift"], name="shift")
        layers += [shift] if k > 1 else [
            keras.layers.Reshape((28, 28, 1), name="to_image"),
            shift.translation,
            keras.layers.Flatten(name="to_vector"),
        ]  # fmt: skip
    if config["input_noise"] > 0:
        layers.append(keras.layers.GaussianNoise(config["input_noise"], name="input_noise"))
    if config["input_dropout"] > 0:
        layers.append(keras.layers.Dropout(config["input_dropout"], name="input_dropout"))

    widths = config["layers"]
    for i, width in enumerate(widths):
        layers.append(dense(width, config["activation"], f"hidden_{i + 1}"))
        if config["dropout"] > 0 and dropout_after(config["dropout_position"], i, len(widths)):
            layers.append(keras.layers.Dropout(config["dropout"], name=f"dropout_{i + 1}"))
    layers.append(dense(10, "softmax", "output"))

    model = keras.Sequential(layers, name="mlp" if k == 1 else f"mlp_x{k}")
    optimizer_class, arguments = OPTIMIZERS[config["optimizer"]]
    model.compile(
        optimizer=getattr(keras.optimizers, optimizer_class)(
            learning_rate=config["learning_rate"], **arguments
        ),
        loss=config["loss"] if k == 1 else rep.summed_over_replicas(config["loss"]),
        metrics=["accuracy"] if k == 1 else [keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def reset_to_fresh(model: keras.Model, config: dict[str, Any], replicas: int = 1) -> keras.Model:
    """`model`, built from `config` (with `replicas`) and trained before, set back to exactly
    what a new build would start from now (under the seed just set): weights, the random
    layers' seed states and the optimizer's slots. Its traced train and test functions stay,
    so a re-run of the same config on another seed skips tracing."""
    fresh = build_model(config, replicas)
    for old_layer, new_layer in zip(model.layers, fresh.layers, strict=True):
        for old, new in zip(old_layer.variables, new_layer.variables, strict=True):
            old.assign(new)
    fresh.optimizer.build(fresh.trainable_variables)
    for old, new in zip(model.optimizer.variables, fresh.optimizer.variables, strict=True):
        old.assign(new)
    return model


def dropout_after(position: str, index: int, n_layers: int) -> bool:
    if position == "all":
        return True
    if position == "last":
        return index == n_layers - 1
    return index == 1  # "second": the course's section 2.3 places it after the second layer
