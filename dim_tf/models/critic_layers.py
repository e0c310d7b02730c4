"""The layers Deep InfoMax's encode-and-dot critic is built from.

`EncodeBlock` is the official `MI1x1ConvNet` (Hjelm et al., ICLR 2019,
appendix A.2), on a local map `[N, M, M, C]` or on Y `[N, D]`.
"""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops

from dim_tf.models import normalization

# PyTorch BatchNorm/LayerNorm defaults, as in the official code.
_BN_MOMENTUM = 0.9
_EPSILON = 1e-5


def check_units(units) -> int:
    """`units` as an int, or a `ValueError` when it is not a positive integer."""
    if not isinstance(units, numbers.Integral) or isinstance(units, bool) or units < 1:
        raise ValueError(f"critic units must be a positive integer, got {units!r}")
    return int(units)


@keras.saving.register_keras_serializable(package="dim_tf")
class NoisyIdentity(keras.initializers.Initializer):
    """Identity plus U(-0.01, 0.01) noise; Glorot uniform when it cannot be one.

    For a `[..., C_in, C_out]` kernel with `C_out >= C_in`: the shortcut starts
    as a noisy copy of its input, as in the official `MI1x1ConvNet`.
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in = math.prod(shape[:-1])
        fan_out = shape[-1]
        if fan_out < fan_in:
            return keras.initializers.GlorotUniform(seed=self.seed)(shape, dtype)
        noise = keras.initializers.RandomUniform(-0.01, 0.01, seed=self.seed)(
            shape, dtype
        )
        eye = ops.reshape(ops.eye(fan_in, fan_out, dtype=noise.dtype), shape)
        return ops.where(eye > 0, ops.ones_like(noise), noise)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="dim_tf")
class PointwiseConv2D(keras.layers.Conv2D):
    """A 1x1 convolution (stride 1, channels last) computed as one matrix product.

    Same variables as `keras.layers.Conv2D(filters, 1)`; TensorFlow's CPU
    gradients of a 1x1 `Conv2D` are much slower than `MatMul`'s.
    """

    def __init__(self, filters, kernel_size=1, **kwargs):
        # Lists too: a `.keras` file's config holds `[1, 1]`.
        for value in (kernel_size, kwargs.get("strides", 1)):
            if value not in (1, (1, 1), [1, 1]):
                raise ValueError("PointwiseConv2D is a 1x1 convolution with stride 1")
        super().__init__(filters, 1, **kwargs)

    def convolution_op(self, inputs, kernel):
        """`inputs [N, H, W, C]`, `kernel [1, 1, C, F]` -> `[N, H, W, F]`."""
        shape = ops.shape(inputs)
        channels = kernel.shape[-2]
        flat = ops.reshape(inputs, (-1, channels))
        outputs = ops.matmul(flat, ops.reshape(kernel, (channels, self.filters)))
        return ops.reshape(outputs, (shape[0], shape[1], shape[2], self.filters))


class EncodeBlock(keras.layers.Layer):
    """The official `MI1x1ConvNet`: `LayerNorm(MLP(x) + shortcut(x))`.

    MLP = linear (no bias), BatchNorm, ReLU, linear; shortcut = linear (no
    bias, near identity). Linear is a 1x1 conv for a map (`spatial=True`), a
    Dense layer for a vector.
    """

    def __init__(
        self, units, spatial, sync_batch_norm=False, dtype=None, name=None, **kwargs
    ):
        super().__init__(dtype=dtype, name=name, **kwargs)
        self.units = check_units(units)
        self.spatial = spatial

        def linear(use_bias, name, **kw):
            if spatial:
                return PointwiseConv2D(
                    units, use_bias=use_bias, dtype=dtype, name=name, **kw
                )
            return keras.layers.Dense(
                units, use_bias=use_bias, dtype=dtype, name=name, **kw
            )

        self.hidden = linear(False, "hidden")
        self.batch_norm = normalization.BatchNormalization(
            momentum=_BN_MOMENTUM,
            epsilon=_EPSILON,
            synchronized=sync_batch_norm,
            dtype=dtype,
            name="batch_norm",
        )
        self.output_linear = linear(True, "output")
        self.shortcut = linear(False, "shortcut", kernel_initializer=NoisyIdentity())
        self.layer_norm = normalization.LayerNormalization(
            epsilon=_EPSILON, dtype=dtype, name="layer_norm"
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        hidden_shape = input_shape[:-1] + (self.units,)
        self.hidden.build(input_shape)
        self.batch_norm.build(hidden_shape)
        self.output_linear.build(hidden_shape)
        self.shortcut.build(input_shape)
        self.layer_norm.build(hidden_shape)

    def call(self, x, training=None):
        h = self.batch_norm(self.hidden(x), training=training)
        h = self.output_linear(ops.relu(h))
        return self.layer_norm(h + self.shortcut(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)
