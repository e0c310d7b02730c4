"""The layers every encoder is made of, with one dtype policy and BatchNorm setup.

Conventions of the official code (`cortex_DIM/nn_modules`): explicit zero
padding, no bias before a BatchNorm, PyTorch's BatchNorm momentum and epsilon.
"""

from __future__ import annotations

import keras

from dim_tf.models import critic_layers

# PyTorch BatchNorm defaults (its momentum 0.1 is 0.9 here), as the official code.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


class EncoderLayers:
    """Adds layers to a functional encoder graph; layer names come from callers.

    Args:
        dtype: Keras dtype policy name for every layer, or None for the
            global policy.
        sync_batch_norm: BatchNorm statistics over the global batch.
    """

    def __init__(self, dtype=None, sync_batch_norm=False):
        self.dtype = dtype
        self.sync_batch_norm = sync_batch_norm

    def conv(self, x, filters, kernel, stride, padding, name):
        """`x [B, H, W, C]` -> `[B, (H - K + 2P) // S + 1, ..., filters]`, no bias.

        Explicit `ZeroPadding2D` then 'valid', so PyTorch's size arithmetic
        holds; a 1x1 stride-1 conv is one matmul (`PointwiseConv2D`, same
        variables) because TensorFlow's CPU 1x1 `Conv2D` gradients are slow.
        """
        if padding:
            x = keras.layers.ZeroPadding2D(
                padding, dtype=self.dtype, name=f"{name}_pad"
            )(x)
        if kernel == 1 and stride == 1:
            return critic_layers.PointwiseConv2D(
                filters, use_bias=False, dtype=self.dtype, name=name
            )(x)
        return keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="valid",
            use_bias=False,
            dtype=self.dtype,
            name=name,
        )(x)

    def batch_norm(self, x, name):
        return keras.layers.BatchNormalization(
            momentum=BN_MOMENTUM,
            epsilon=BN_EPSILON,
            synchronized=self.sync_batch_norm,
            dtype=self.dtype,
            name=name,
        )(x)

    def relu(self, x, name):
        return keras.layers.ReLU(dtype=self.dtype, name=name)(x)

    def bn_relu(self, x, prefix):
        """BatchNorm (`{prefix}_bn`) then ReLU (`{prefix}_relu`)."""
        return self.relu(self.batch_norm(x, f"{prefix}_bn"), f"{prefix}_relu")

    def conv_bn_relu(self, x, filters, kernel, stride, padding, name):
        """`conv` named `name`, then BatchNorm and ReLU."""
        x = self.conv(x, filters, kernel, stride, padding, name)
        return self.bn_relu(x, name)

    def max_pool(self, x, size, stride, name):
        """'valid' max pooling (callers pad explicitly, as for convolutions)."""
        return keras.layers.MaxPooling2D(
            size, strides=stride, padding="valid", dtype=self.dtype, name=name
        )(x)

    def zero_pad(self, x, padding, name):
        return keras.layers.ZeroPadding2D(padding, dtype=self.dtype, name=name)(x)

    def add(self, tensors, name):
        return keras.layers.Add(dtype=self.dtype, name=name)(tensors)

    def flatten(self, x, name="flatten"):
        return keras.layers.Flatten(dtype=self.dtype, name=name)(x)

    def fc_bn_relu(self, x, units, name):
        """Dense without bias, BatchNorm, ReLU."""
        x = keras.layers.Dense(units, use_bias=False, dtype=self.dtype, name=name)(x)
        return self.bn_relu(x, name)

    def linear(self, x, units, name):
        """Dense with bias, no activation (the Y layer)."""
        return keras.layers.Dense(units, dtype=self.dtype, name=name)(x)
