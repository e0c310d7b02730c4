"""Image files: listing them, and decoding them to fixed-size uint8 images.

Shared by directory datasets, exported SavedModels (`fit`) and embedding tools.
Not TFDS 4.9's `ImageFolder`: it lists only JPEG and PNG in one layout and
cannot name or skip a file that fails to decode.
"""

import os

import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.input import read_errors

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# What `tf.io.decode_image` recognises a file by (its first bytes).
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
# With random crops the cached side is 1/8 larger than the crop (72 for 64).
_CROP_MARGIN = 8


def is_image_name(name):
    """Whether a file name has an image extension (any case) and is not hidden."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(path):
    """Every image file under `path`, recursively, sorted.

    Hidden files and folders are left out; extensions `IMAGE_EXTENSIONS`, any case.
    """
    return sorted(
        os.path.join(root, name)
        for root, _, images in walk_images(path)
        for name in images
    )


def walk_images(path):
    """`os.walk` (top-down, links followed): `(folder, subfolders, image files)`.

    Hidden folders and files are left out; names sorted.
    """
    for root, folders, files in os.walk(path, followlinks=True):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        yield root, tuple(folders), tuple(sorted(filter(is_image_name, files)))


def not_images(paths):
    """The paths of `paths` whose first bytes are not a JPEG, PNG, GIF or BMP header.

    Reads 8 bytes of each file: a cheap check before anything is decoded.
    """
    bad = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError:
            head = b""
        if not head.startswith(_SIGNATURES):
            bad.append(path)
    return bad


def checked_images(paths, skip_bad, where):
    """`(kept, skipped)`: `paths` after the header check, the bad ones dropped.

    Args:
      paths: image file paths.
      skip_bad: drop files that are not images instead of raising.
      where: what the paths are, for the message ("split 'train' of /data").

    Raises:
      UserError: a file is not an image and `skip_bad` is False.
    """
    bad = not_images(paths)
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(
            f"{bad[0]}{more} in {where} is not a JPEG, PNG, GIF or BMP image; "
            "remove it or set --config.data.skip_bad_images=True to skip such files"
        )
    bad_set = set(bad)
    return [path for path in paths if path not in bad_set], bad


def decode(contents, channels):
    """Image file bytes -> uint8 `[H, W, channels]` (a GIF's first frame).

    Args:
      contents: scalar string tensor, the bytes of a JPEG, PNG, GIF or BMP.
      channels: 1 or 3.
    """
    if channels == 3:
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    else:
        # GIF and BMP decode only to 3 (or 4) channels: convert after.
        image = tf.io.decode_image(contents, channels=0, expand_animations=False)
        image = convert_channels(image, channels)
    image.set_shape([None, None, channels])
    return image


_CHANNEL_COUNTS = "1 (grey), 2 (grey and alpha), 3 (RGB) or 4 (RGBA)"


def convert_channels(images, channels):
    """uint8 `[..., c]` -> `[..., channels]`: alpha dropped, grey <-> RGB.

    Args:
      images: uint8 with 1 to 4 channels (maybe known only at run time).
      channels: 1 or 3; None leaves `images` as they are (any count).

    Raises:
      ValueError: a known channel count other than 1 to 4 to convert.
      tf.errors.InvalidArgumentError: the same, found at run time.
    """
    count = images.shape[-1]
    if channels is None or count == channels:
        return images
    if count is not None:
        if not 1 <= count <= 4:
            raise ValueError(
                f"images have {count} channels; {_CHANNEL_COUNTS} are taken"
            )
        return _convert_static(images, channels)
    # Unknown until run time: one branch per count, after a range check.
    count = tf.shape(images)[-1]
    check = tf.debugging.Assert(
        tf.logical_and(count >= 1, count <= 4),
        [f"images must have {_CHANNEL_COUNTS} channels; they have", count],
    )
    with tf.control_dependencies([check]):
        images = tf.identity(images)

    def branch(stored):
        known = images[..., :stored]
        known.set_shape(images.shape[:-1].concatenate([stored]))
        return lambda: _convert_static(known, channels)

    return tf.switch_case(count - 1, [branch(c) for c in (1, 2, 3, 4)])


def _convert_static(images, channels):
    stored = images.shape[-1]
    if stored in (2, 4):  # Grey or RGB with alpha: the alpha is dropped.
        images = images[..., : stored - 1]
        stored -= 1
    if stored == channels:
        return images
    if channels == 1:
        return tf.image.rgb_to_grayscale(images)
    return tf.image.grayscale_to_rgb(images)


def stored_size(image_size, random_crop):
    """S, or S + S // 8 with random crops: the side a directory dataset caches.

    Args:
      image_size: S, the encoder's input size.
      random_crop: `data.random_crop`.
    """
    return image_size + image_size // _CROP_MARGIN if random_crop else image_size


def fit(images, size):
    """Aspect-preserving resize (covering `size`), then the central window.

    Same ops for one image and a batch: exported models fit as the pipeline.

    Args:
      images: uint8 `[H, W, C]` or `[B, H, W, C]`, any H and W.
      size: the side of the square result, or its `(height, width)`.

    Returns:
      uint8 `[height, width, C]` or `[B, height, width, C]`.
    """
    target_h, target_w = size if isinstance(size, (tuple, list)) else (size, size)
    shape = tf.shape(images)
    height, width = shape[-3], shape[-2]
    # For a square target this is size / min(H, W), to the last bit.
    scale = tf.maximum(
        target_h / tf.cast(height, tf.float64), target_w / tf.cast(width, tf.float64)
    )
    new_height = tf.maximum(
        target_h, tf.cast(tf.round(tf.cast(height, tf.float64) * scale), tf.int32)
    )
    new_width = tf.maximum(
        target_w, tf.cast(tf.round(tf.cast(width, tf.float64) * scale), tf.int32)
    )
    # Antialiased: a downscaled photo must not alias.
    resized = tf.image.resize(images, tf.stack([new_height, new_width]), antialias=True)
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    top, left = (new_height - target_h) // 2, (new_width - target_w) // 2
    cropped = resized[..., top : top + target_h, left : left + target_w, :]
    return tf.ensure_shape(
        cropped, [*images.shape[:-3], target_h, target_w, images.shape[-1]]
    )


def decoded_examples(examples, count, channels, size, skip_bad, name_of):
    """Examples with their image file bytes decoded and fitted, bad files handled.

    Args:
      examples: dataset of dicts with "path" or "contents" (bytes); others kept.
      count: examples in `examples`.
      channels: 1 or 3.
      size: side of the fitted images (`stored_size`), or `(height, width)`.
      skip_bad: skip examples that fail to read or decode, else name the first.
      name_of: int64 position in `examples` -> list of tensors naming it.

    Returns:
      `tf.data.Dataset` of the dicts, uint8 "image" `[height, width, channels]`
      replacing "path" / "contents"; cardinality `count` unless `skip_bad`.
    """

    def decoded(position, example):
        example = dict(example)
        if "contents" in example:
            contents = example.pop("contents")
        else:  # Read here, so that a missing file is named like a bad one.
            contents = tf.io.read_file(example.pop("path"))
        image = fit(decode(contents, channels), size)
        return position, {**example, "image": image}

    ds = examples.enumerate().map(decoded, num_parallel_calls=tf.data.AUTOTUNE)
    # tf.data cannot catch an op error in a map: drop it, then name the gap.
    ds = ds.ignore_errors()
    if skip_bad:
        return ds.map(lambda position, example: example)
    spec = ds.element_spec[1]
    end = tf.data.Dataset.from_tensors(
        (
            tf.constant(count, tf.int64),
            {key: tf.zeros(s.shape, s.dtype) for key, s in spec.items()},
        )
    )

    last = max(count - 1, 0)

    def check(expected, element):
        position, example = element
        # Computed even when the check passes (end marker): name a real example.
        name = name_of(tf.minimum(expected, last))
        tf.debugging.Assert(
            tf.equal(position, expected), [read_errors.BAD_IMAGE_MARK, *name]
        )
        return position + 1, element

    ds = ds.concatenate(end).scan(tf.constant(0, tf.int64), check)
    ds = ds.filter(lambda position, example: position < count)
    ds = ds.map(lambda position, example: example)
    return ds.apply(tf.data.experimental.assert_cardinality(count))


def load_images(paths, channels, size):
    """Decodes and fits image files now: uint8 `[N, size, size, channels]`.

    Raises:
      UserError: a file cannot be read or decoded (it is named).
    """
    paths = list(paths)
    names = tf.constant(paths or [""], tf.string)
    examples = tf.data.Dataset.from_tensor_slices(
        {"path": tf.constant(paths, tf.string)}
    )
    ds = decoded_examples(
        examples, len(paths), channels, size, False, lambda i: [tf.gather(names, i)]
    )
    with read_errors.reading("image files"):
        images = [example["image"] for example in ds.batch(max(1, len(paths)))]
    return images[0] if images else tf.zeros([0, size, size, channels], tf.uint8)
