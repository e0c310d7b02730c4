"""What every exported model does around the encoder, as Keras layers.

`ServingInput`: uint8 images as the dataset stores them -> the encoder's input,
the same ops as the pipeline (so a `.keras` file and the SavedModel agree);
`ClassIds`: logits -> class ids. Importing this module registers them (and the
encoders' and probes' own layers) for `keras.saving.load_model`.
"""

import keras
import tensorflow as tf

# Imported for their registered layers, which exported `.keras` files contain.
from dim_tf.evaluators import pooling  # noqa: F401
from dim_tf.input import image_files, model_input, sources
from dim_tf.models import backbone_input, folding, normalization  # noqa: F401


@keras.saving.register_keras_serializable(package="dim_tf")
class ServingInput(keras.layers.Layer):
    """uint8 `[B, H, W, c]` -> float32 `[B, S, S, C]` in [-1, 1].

    Channels converted (c in 1..4), then, with `fit_size`, images of any size
    fitted to the side a directory dataset stores; else `H x W` must be the
    stored `stored_shape`. Then `model_input.raw_images_to_model_input`.

    Args:
      image_size: S.
      center_crop: `Run.center_crop`.
      channels: `data.channels` (C; None keeps the stored count).
      stored_shape: `(H, W, c)` the dataset stores (H, W None for a directory).
      fit_size: the stored side images of any size are fitted to, or None.
    """

    def __init__(
        self, image_size, center_crop, channels, stored_shape, fit_size=None, **kwargs
    ):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.image_size, self.center_crop = image_size, center_crop
        self.channels, self.fit_size = channels, fit_size
        self.stored_shape = tuple(stored_shape)

    def call(self, images):
        height, width, stored_channels = self.stored_shape
        images = image_files.convert_channels(images, stored_channels)
        if self.fit_size:
            images = image_files.fit(images, self.fit_size)
        else:
            images = tf.ensure_shape(images, [None, height, width, stored_channels])
        return model_input.raw_images_to_model_input(
            images, self.image_size, self.center_crop, self.channels
        )

    def compute_output_shape(self, input_shape):
        channels = self.channels or self.stored_shape[-1]
        return (input_shape[0], self.image_size, self.image_size, channels)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "center_crop": self.center_crop,
            "channels": self.channels,
            "stored_shape": list(self.stored_shape),
            "fit_size": self.fit_size,
        }


@keras.saving.register_keras_serializable(package="dim_tf")
class ClassIds(keras.layers.Layer):
    """Logits `[B, K]` -> int64 class ids `[B]` (the largest logit's index)."""

    def call(self, logits):
        return tf.argmax(logits, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def compute_output_spec(self, logits):
        return keras.KerasTensor((logits.shape[0],), dtype="int64")


def serving_input(run, portable=False):
    """The run's `ServingInput`: as the SavedModel's, or at one fixed stored size.

    Args:
      run: `dim_tf.training.runs.Run`.
      portable: True for the ONNX and LiteRT graphs: images already at the size
        and channel count the dataset stores (a directory's fitted side), as
        their converters take no run-time resizing or channel branches.

    Returns:
      `(layer, input_shape)`: the layer and the `(H, W, c)` its images have
      (None where any size or channel count is taken).
    """
    data, size = run.config.data, run.image_size
    height, width, channels = run.raw_image_shape
    directory = sources.is_directory(data.dataset)
    fit_size = image_files.stored_size(size, data.random_crop) if directory else None
    if portable:
        if fit_size:
            height = width = fit_size
        stored = (height, width, channels)
        layer = ServingInput(size, run.center_crop, data.channels, stored)
        return layer, stored
    layer = ServingInput(
        size, run.center_crop, data.channels, (height, width, channels), fit_size
    )
    return layer, (height, width, None)
