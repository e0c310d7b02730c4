"""Folded encoders: the trunk runs on overlapping crops, each crop one local vector.

The official DIM code's `Unfold` / `Fold` (`cortex_DIM/nn_modules/misc.py`):
crops of side S/4 at stride S/8 form a 7 x 7 grid; each crop ends as a 1x1
vector and the vectors form the local map `[B, 7, 7, F]`.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

# Crops per image side = 2 * CROPS_PER_SIDE - 1 at half-crop strides.
CROPS_PER_SIDE = 4


@dataclasses.dataclass(frozen=True)
class CropGrid:
    """Where the crops of an S x S image are.

    Attributes:
        crop: side of each square crop, S / 4.
        stride: distance between neighbouring crops, crop / 2.
        grid: crops per side, 7.
    """

    crop: int
    stride: int
    grid: int


def crop_grid(image_size: int) -> CropGrid:
    """The official crops of an `image_size` square image (8 / 4 / 7 at 32).

    Raises:
        ValueError: `image_size` is not a multiple of 8.
    """
    if image_size % (2 * CROPS_PER_SIDE):
        raise ValueError(
            f"folded encoders need a side divisible by 8, got {image_size}"
        )
    crop = image_size // CROPS_PER_SIDE
    return CropGrid(crop, crop // 2, 2 * CROPS_PER_SIDE - 1)


@keras.saving.register_keras_serializable(package="dim_tf")
class ExtractCrops(keras.layers.Layer):
    """`[B, S, S, C]` -> `[B * G * G, crop, crop, C]`, crops in row-major grid order.

    Crop (r, c) of image b is row `(b * G + r) * G + c`.
    """

    def __init__(self, crop, stride, **kwargs):
        super().__init__(**kwargs)
        self.crop = int(crop)
        self.stride = int(stride)

    def call(self, images):
        # One gather of the crops' pixels rather than tf.image.extract_patches:
        # the same values, and LiteRT's built-in operators have no
        # ExtractImagePatches.
        side, channels = images.shape[1], images.shape[-1]
        starts = np.arange(0, side - self.crop + 1, self.stride)
        offsets = np.arange(self.crop)
        rows = (starts[:, None] + offsets[None, :])[:, None, :, None]  # [G, 1, crop, 1]
        cols = (starts[:, None] + offsets[None, :])[None, :, None, :]  # [1, G, 1, crop]
        pixels = (rows * side + cols).reshape(-1)  # crop (r, c) row-major, then pixels
        flat = ops.reshape(images, (-1, side * side, channels))
        crops = ops.take(flat, pixels, axis=1)
        return ops.reshape(crops, (-1, self.crop, self.crop, channels))

    def compute_output_shape(self, input_shape):
        return (None, self.crop, self.crop, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "crop": self.crop, "stride": self.stride}


@keras.saving.register_keras_serializable(package="dim_tf")
class FoldCrops(keras.layers.Layer):
    """`[B * G * G, 1, 1, F]` (one vector per crop) -> the grid `[B, G, G, F]`.

    The inverse of `ExtractCrops`' row order.
    """

    def __init__(self, grid, **kwargs):
        super().__init__(**kwargs)
        self.grid = int(grid)

    def call(self, vectors):
        if vectors.shape[1] != 1 or vectors.shape[2] != 1:
            raise ValueError(
                f"each crop must end as a 1x1 map, got {vectors.shape[1:3]}"
            )
        return ops.reshape(vectors, (-1, self.grid, self.grid, vectors.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (None, self.grid, self.grid, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid": self.grid}
