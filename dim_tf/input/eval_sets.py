"""Eval sets with labels and lists of image files, as a run's encoder takes them."""

import os

import tensorflow as tf

from dim_tf.input import folders, image_files, sources, tfds_read
from dim_tf.input.model_input import batched_model_input


def make_eval_dataset(data, split, image_size, batch_size, center_crop=None):
    """A split in a fixed order with its labels, unaugmented, for probes and measures.

    Args:
      data: the `config.data` section.
      split: TFDS split expression ("test", "train[:10%]"); for a directory a
        split setting or an unlabeled split's part ("train[held_out]").
      image_size: S, the encoder's input height and width.
      batch_size: b; the last batch may be smaller.
      center_crop: center-crop images larger than S; None = `data.random_crop`.

    Returns:
      Finite `tf.data.Dataset` of `(images, labels)`: float32 `[b, S, S, C]` in
      [-1, 1] and int32 `[b]` (-1 for an unlabeled directory).
    """
    ds = stored_examples(data, split, image_size)
    if center_crop is None:
        center_crop = data.random_crop
    ds = batched_model_input(
        ds, batch_size, image_size, center_crop, data.channels, False
    )
    ds = ds.map(lambda example: (example["image"], example["label"]))
    return ds.prefetch(tf.data.AUTOTUNE)


def stored_examples(data, split, image_size):
    """A split's examples as the dataset stores them, in a fixed order.

    Args:
      data: the `config.data` section.
      split: as `make_eval_dataset`'s.
      image_size: S (a directory's images are fitted to its stored side).

    Returns:
      `tf.data.Dataset` of `{"image": uint8 [H, W, C], "label": int32 []}`.
    """
    if sources.is_directory(data.dataset):
        return folders.read(data, split, image_size)[0]
    return _tfds_labeled_examples(data, split)


def _tfds_labeled_examples(data, split):
    """`{"image": uint8 [H, W, C], "label": int32 []}` of a TFDS split, in order."""
    builder = sources.prepared_builder(data.dataset, data.data_dir, data.manual_dir)
    sources.image_shape(builder.info, data.image_key)
    sources.feature(builder.info, data.label_key, "label_key")
    ds = tfds_read.read(builder, split, [data.image_key, data.label_key])

    def renamed(example):
        return {
            "image": example[data.image_key],
            "label": tf.cast(example[data.label_key], tf.int32),
        }

    return ds.map(renamed)


def make_files_dataset(paths, data, image_size, batch_size, raw_image_shape=None):
    """Image files in the given order, as a run's encoder takes them.

    Decoded and fitted as the run's dataset stores images, then as evaluation.

    Args:
      paths: image file paths (str, bytes or path-like).
      data: the run's `config.data` section.
      image_size: S, the encoder's input size.
      batch_size: b; the last batch may be smaller.
      raw_image_shape: `(H, W, C)` the run's dataset stores (`Run.raw_image_shape`);
        None (or H, W None): a directory dataset's.

    Returns:
      Finite `tf.data.Dataset` of `(images, paths)`: float32 `[b, S, S, C]`
      in [-1, 1] and string `[b]`. An undecodable file stops the iteration
      with an error naming it, or is left out with `data.skip_bad_images`.
    """
    # Bytes: file names need not be valid UTF-8.
    paths = [os.fsencode(path) for path in paths]
    height, width, channels = raw_image_shape or (None, None, folders.channels(data))
    if height and width:
        size = (height, width)
    else:
        size = image_files.stored_size(image_size, data.random_crop)
    names = tf.constant(paths or [b""], tf.string)
    examples = tf.data.Dataset.from_tensor_slices(
        {"path": tf.constant(paths, tf.string), "file": tf.constant(paths, tf.string)}
    )
    ds = image_files.decoded_examples(
        examples,
        len(paths),
        channels,
        size,
        data.skip_bad_images,
        lambda i: [tf.gather(names, i)],
    )
    ds = batched_model_input(
        ds, batch_size, image_size, data.random_crop, data.channels, False
    )
    ds = ds.map(lambda example: (example["image"], example["file"]))
    return ds.prefetch(tf.data.AUTOTUNE)
