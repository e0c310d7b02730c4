"""A directory of TFRecord files of `tf.train.Example`s, as a dataset.

Encoded image bytes under `data.image_key`, optionally an int64 class id under
`data.label_key`, in `PATH/*.tfrecord*` files; split naming: docs/usage.md.
"""

import os
import re

import tensorflow as tf

from dim_tf.errors import UserError

_TFDS_NAME = re.compile(r"-([^-.]+)\.tfrecord")


def tfrecord_files(path):
    """The sorted paths of the TFRecord files directly in `path` (hidden ones left out)."""
    names = [
        name
        for name in os.listdir(path)
        if ".tfrecord" in name
        and not name.startswith(".")
        and os.path.isfile(os.path.join(path, name))
    ]
    return [os.path.join(path, name) for name in sorted(names)]


def belongs_to(file_name, split):
    """Whether `file_name` starts with `SPLIT.` / `SPLIT-` or has `-SPLIT.tfrecord`."""
    name = os.path.basename(file_name)
    return name.startswith((f"{split}.", f"{split}-")) or f"-{split}.tfrecord" in name


def split_names(files):
    """The split names the files' names show, sorted (for messages)."""
    names = set()
    for path in files:
        name = os.path.basename(path)
        tfds_name = _TFDS_NAME.search(name)
        names.add(tfds_name.group(1) if tfds_name else re.split(r"[.-]", name)[0])
    return sorted(names)


def first_example(path):
    """The first record of a TFRecord file as a `tf.train.Example`, or None if it has none.

    Raises:
      UserError: the file cannot be read or its first record is no Example.
    """
    try:
        for record in tf.data.TFRecordDataset(path).take(1):
            return tf.train.Example.FromString(record.numpy())
    except (tf.errors.OpError, ValueError) as err:  # DecodeError is a ValueError.
        raise UserError(
            f"{path} is not a TFRecord file of tf.train.Example records "
            f"({type(err).__name__}); rewrite it or move it out of the folder"
        ) from None
    return None


def check_example(example, path, image_key, label_key):
    """True when the record has an int64 `label_key`; raises unless it has image bytes.

    Args:
      example: the `tf.train.Example` (the first record of `path`).
      path: its file, for the message.
      image_key, label_key: `data.image_key`, `data.label_key`.

    Raises:
      UserError: no bytes feature `image_key`.
    """
    features = example.features.feature
    if image_key not in features or features[image_key].WhichOneof("kind") != (
        "bytes_list"
    ):
        present = ", ".join(sorted(features)) or "none"
        raise UserError(
            f"the records of {path} have no image bytes under {image_key!r} "
            f"(data.image_key); their features: {present}"
        )
    return label_key in features and features[label_key].WhichOneof("kind") == (
        "int64_list"
    )


def examples(files, image_key, label_key=None):
    """The records of `files` in order: `{"contents": string [], "label": int32 []}`.

    Args:
      files: TFRecord file paths.
      image_key: the bytes feature holding the encoded image.
      label_key: the int64 class id feature, or None (every label -1).
    """
    spec = {image_key: tf.io.FixedLenFeature([], tf.string)}
    if label_key is not None:
        spec[label_key] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        label = example[label_key] if label_key is not None else tf.constant(-1)
        return {"contents": example[image_key], "label": tf.cast(label, tf.int32)}

    return tf.data.TFRecordDataset(list(files)).map(parse, tf.data.AUTOTUNE)


def label_count(files, label_key):
    """1 + the largest class id in `files` (labels only are parsed).

    Raises:
      UserError: a record has no label or a negative one.
    """
    spec = {label_key: tf.io.FixedLenFeature([], tf.int64, default_value=-1)}
    labels = tf.data.TFRecordDataset(list(files)).map(
        lambda record: tf.io.parse_single_example(record, spec)[label_key],
        tf.data.AUTOTUNE,
    )
    low, high = labels.reduce(
        (tf.constant(0, tf.int64), tf.constant(-1, tf.int64)),
        lambda bounds, label: (
            tf.minimum(bounds[0], label),
            tf.maximum(bounds[1], label),
        ),
    )
    if int(low) < 0:
        raise UserError(
            f"a record of {', '.join(files)} has no int64 {label_key!r} (data.label_key) "
            "or a negative one; every record of a labeled split needs a class id >= 0"
        )
    return int(high) + 1
