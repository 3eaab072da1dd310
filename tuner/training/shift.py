"""The image shift layer: Keras' RandomTranslation, computed as two small matmuls per image.

Keras draws each image's offset and moves the image with an interpolating projective transform
(bilinear, zero fill). For a pure translation that transform separates by axis: the moved image
is Ty @ image @ Tx^T, where Ty and Tx are banded 28 x 28 matrices holding each output pixel's
two bilinear weights (zero where the source falls outside the image, as the zero fill does).
Same random draws (the layer is a RandomTranslation), same output within float rounding
(1.2e-7 on MNIST in [0, 1]), and on CPU a batch-64 epoch of the warm-start net took 0.40 s
against 0.64 s (docs/BENCHMARKS.md, issue 14). It only handles what the product builds: zero
fill, bilinear, channels last, one channel; the export writes the stock layer (build_model).
"""

from __future__ import annotations

import keras
from keras import ops


class MatmulTranslation(keras.layers.RandomTranslation):
    def __init__(self, height_factor, width_factor, fill_mode="constant", **kwargs) -> None:
        super().__init__(height_factor, width_factor, fill_mode=fill_mode, **kwargs)
        supported = (self.fill_mode, self.fill_value, self.interpolation, self.data_format)
        if supported != ("constant", 0, "bilinear", "channels_last"):
            raise ValueError("MatmulTranslation: bilinear, zero fill, channels last only")

    def _translate_inputs(self, inputs, transformation, interpolation):
        if transformation is None:  # inference: images pass unchanged
            return inputs
        offsets = transformation["translations"]  # (batch, 2): x and y offsets in pixels
        height, width = inputs.shape[-3], inputs.shape[-2]
        rows = _bilinear_weights(height, offsets[:, 1])
        columns = _bilinear_weights(width, offsets[:, 0])
        moved = ops.matmul(ops.matmul(rows, inputs[..., 0]), ops.transpose(columns, (0, 2, 1)))
        return ops.expand_dims(moved, -1)


def _bilinear_weights(size: int, offset):
    """(batch, size, size): row i holds the weights output pixel i takes from each source pixel
    j when the image moves by `offset`: max(0, 1 - |j - (i - offset)|)."""
    position = ops.cast(ops.arange(size), "float32")
    source = position[None, :, None] - offset[:, None, None]
    return ops.relu(1.0 - ops.abs(position[None, None, :] - source))
