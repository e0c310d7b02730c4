"""dim_tf's [-1, 1] images in the range each Keras backbone family takes.

`keras.applications` models take their module's `preprocess_input` of RGB
pixels in [0, 255]; `ImageRange` converts inside the model, so the input
pipeline and exported SavedModels stay as they are.
"""

from __future__ import annotations

import importlib

import keras
import numpy as np

from dim_tf.errors import UserError

# `keras.applications.imagenet_utils.preprocess_input`'s constants.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

# mode -> what the trunk takes:
#   "tf": [-1, 1] (nothing to do); "pixels": [0, 255], the trunk rescales
#   itself (its `preprocess_input` is the identity); "caffe": BGR pixels
#   minus the ImageNet mean; "torch": [0, 1] minus mean, over std, per channel.
MODES = ("tf", "pixels", "caffe", "torch")


@keras.saving.register_keras_serializable(package="dim_tf")
class ImageRange(keras.layers.Layer):
    """`[B, H, W, C]` in [-1, 1] -> `[B, H, W, C']` in the range of `mode`.

    In float32 under any policy: bfloat16 pixels near 255 lose their last bits.

    Args:
        mode: one of `MODES`.
        to_rgb: repeat a grey channel three times (C' = 3), since every
            mode but "tf" and every weights file is defined on RGB.
    """

    def __init__(self, mode: str, to_rgb: bool = False, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.to_rgb = bool(to_rgb)

    def call(self, images):
        x = keras.ops.cast(images, "float32")
        if self.to_rgb:
            x = keras.ops.repeat(x, 3, axis=-1)
        if self.mode == "tf":
            return x
        if self.mode == "torch":
            return ((x + 1.0) / 2.0 - np.array(TORCH_MEAN, "float32")) / np.array(
                TORCH_STD, "float32"
            )
        pixels = (x + 1.0) * 127.5
        if self.mode == "pixels":
            return pixels
        return keras.ops.flip(pixels, axis=-1) - np.array(CAFFE_BGR_MEAN, "float32")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3) if self.to_rgb else tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, to_rgb=self.to_rgb)
        return config


def source_module(constructor):
    """The `keras.src.applications` module that defines `constructor`."""
    return importlib.import_module(constructor.__module__)


def input_mode(constructor) -> str:
    """The mode of `MODES` whose conversion matches the family's `preprocess_input`.

    Raises:
        UserError: no mode matches (a family this rule does not know).
    """
    module = source_module(constructor)
    rng = np.random.default_rng(0)
    unit = rng.uniform(-1, 1, (1, 2, 2, 3)).astype("float32")
    expected = np.asarray(module.preprocess_input((unit + 1.0) * 127.5))
    for mode in MODES:
        got = keras.ops.convert_to_numpy(ImageRange(mode)(unit))
        if np.allclose(got, expected, rtol=1e-5, atol=1e-4):
            return mode
    raise UserError(
        f"cannot tell the input range of keras.applications.{constructor.__name__} "
        f"from its preprocess_input; dim_tf knows {', '.join(MODES)}"
    )


def file_model_mode(model) -> str:
    """ "pixels" when `model` starts with a Rescaling or Normalization layer, else "tf".

    A saved model is assumed to take [-1, 1] unless its first layer after the
    input rescales pixels itself, as `keras.applications`' EfficientNet,
    MobileNetV3 and ConvNeXt do.
    """
    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    first = layers[0] if layers else None
    if isinstance(first, (keras.layers.Rescaling, keras.layers.Normalization)):
        return "pixels"
    return "tf"
