"""The deterministic transform from stored images to model input.

Training, evaluation and the exported SavedModels all apply
`raw_images_to_model_input`, so a model sees the same pixels everywhere.
"""

import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.input import augment, image_files


def raw_images_to_model_input(
    images_uint8, image_size, center_crop=False, channels=None
):
    """The deterministic transform from stored images to model input.

    Pure TensorFlow ops, so exported SavedModels can embed it.

    Args:
      images_uint8: uint8 `[B, H, W, c]`, as the dataset stores them.
      image_size: S, the encoder's input height and width.
      center_crop: first crop the central `min(H, S) x min(W, S)` window;
        whatever is not S x S is then resized.
      channels: C (`data.channels`): grey <-> RGB when c differs; None keeps c.

    Returns:
      float32 `[B, S, S, C]` in [-1, 1].
    """
    images = image_files.convert_channels(tf.convert_to_tensor(images_uint8), channels)
    if center_crop:
        images = _center_crop(images, image_size)
    if images.shape[1] != image_size or images.shape[2] != image_size:
        # In float32 (the uint8 kernel's arithmetic too): ONNX resizes in the input's type.
        images = tf.cast(images, tf.float32)
        images = tf.image.resize(images, [image_size, image_size], "bilinear")
        # Float rounding can push an interpolated pixel a hair past 255.
        images = tf.clip_by_value(images, 0.0, 255.0)
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def batched_model_input(
    ds, batch_size, image_size, center_crop, channels, drop_remainder
):
    """Batches `{"image": uint8 [H, W, c], ...}` examples into model input.

    Whole batches when every image has the same static size, else one at a time.
    """

    def transform(example, batched):
        images = example["image"] if batched else example["image"][tf.newaxis]
        images = raw_images_to_model_input(images, image_size, center_crop, channels)
        return {**example, "image": images if batched else images[0]}

    height, width = ds.element_spec["image"].shape[:2]
    if height is not None and width is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        return ds.map(
            lambda example: transform(example, batched=True), tf.data.AUTOTUNE
        )
    ds = ds.map(lambda example: transform(example, batched=False), tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder)


def _center_crop(images, size):
    """Central `min(H, S) x min(W, S)` window of `[B, H, W, C]`."""
    height, width = augment.static_dim(images, 1), augment.static_dim(images, 2)
    crop_h, crop_w = (
        augment.static_minimum(height, size),
        augment.static_minimum(width, size),
    )
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return images[:, top : top + crop_h, left : left + crop_w, :]


def check_pixels(images, caller):
    """Raises `UserError` unless `images` (a NumPy array) hold pixels in [0, 255].

    Floats all within [-1, 1] are refused: they are model input or [0, 1]
    images, which the conversion to model input would map to about -1.

    Args:
      images: `[N, H, W, C]` array.
      caller: the name the message gives, e.g. "DeepInfoMax.fit".
    """
    kind = images.dtype.kind
    low, high = (float(images.min()), float(images.max())) if images.size else (0, 0)
    if kind in "ui" and low >= 0 and high <= 255:
        return
    if kind == "f" and 0 <= low and 1 < high <= 255:
        return
    raise UserError(
        f"{caller} takes pixel values in [0, 255] (uint8, as the datasets store "
        f"them); got {images.dtype} in [{low:g}, {high:g}]"
    )
