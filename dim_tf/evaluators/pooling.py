"""The bound `eval.max_tap_features` on stored per-image maps: adaptive average pooling.

A map tap `[H, W, C]` with more than the bound's floats is pooled to the
largest square grid `g x g x C` within it (at least 1 x 1); kept images are
halved until they fit.
Maps within the bound pass through untouched.
"""

import math

import keras
import numpy as np
import tensorflow as tf


def map_side(shape, max_features):
    """The side g a map of `shape` `(H, W, C)` is pooled to, or None when it fits.

    Args:
      shape: a map's `(H, W, C)`; any other rank never pools.
      max_features: the bound on `H x W x C` (0 = none).
    """
    if not max_features or len(shape) != 3 or math.prod(shape) <= max_features:
        return None
    height, width, channels = shape
    side = max(1, min(height, width, math.isqrt(max_features // channels)))
    return None if side == height == width else side


def image_side(shape, max_features):
    """The side kept images of `shape` `(S, S, C)` are halved to, or None when they fit."""
    if not max_features or math.prod(shape) <= max_features:
        return None
    side, channels = shape[0], shape[2]
    while side > 1 and side * side * channels > max_features:
        side //= 2
    return side


def _bins(size, side):
    """float32 `[side, size]`: row i averages cells floor(i*size/side)..ceil((i+1)*size/side)."""
    weights = np.zeros((side, size), np.float32)
    for i in range(side):
        start, stop = (i * size) // side, -(-(i + 1) * size // side)
        weights[i, start:stop] = 1.0 / (stop - start)
    return weights


def pool(maps, side):
    """Adaptive average pooling (PyTorch's `AdaptiveAvgPool2d` bins).

    Not `keras.ops.adaptive_average_pool`: in a `tf.function` it fails where
    a window would exceed the map (7 -> 1 in Keras 3.15).

    Args:
      maps: float `[B, H, W, C]`.
      side: g.

    Returns:
      float32 `[B, g, g, C]`.
    """
    maps = tf.cast(maps, tf.float32)
    rows = tf.constant(_bins(int(maps.shape[1]), side))
    columns = tf.constant(_bins(int(maps.shape[2]), side))
    return tf.einsum("ih,bhwc,jw->bijc", rows, maps, columns)


@keras.saving.register_keras_serializable(package="dim_tf")
class MapPooling(keras.layers.Layer):
    """`pool` as a layer: `[B, H, W, C]` -> float32 `[B, side, side, C]`."""

    def __init__(self, side, **kwargs):
        super().__init__(**kwargs)
        self.side = int(side)

    def call(self, maps):
        return pool(maps, self.side)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.side, self.side, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "side": self.side}
