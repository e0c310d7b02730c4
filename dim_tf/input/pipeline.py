"""Input pipelines: the unlabeled stream DIM trains on and labeled eval sets.

One pipeline for every source: a TFDS split (read by TFDS, stored images)
or a directory's split (`dim_tf.input.folders`: files decoded and fitted to
a fixed size first) goes through the same cache, shuffle, augmentation,
batching and prefetching. Images reach the model as float32 in [-1, 1] at
the encoder's input size via `raw_images_to_model_input`, which exported
SavedModels reuse. The datasets are found and prepared by
`dim_tf.input.sources`; a bad split, feature or batch size raises a one-line
`dim_tf.errors.UserError`.
"""

import os

import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from dim_tf import input as input_names
from dim_tf.errors import UserError
from dim_tf.input import augment, folders, image_files, sources

_EPOCH_GRAPH_SEED = 1
# The default shuffle buffer when the decoded split is not cached: examples
# decoded and held in memory at once (e.g. 10,000 96x96x3 images, 276 MB).
UNCACHED_SHUFFLE_BUFFER = 10_000


def raw_images_to_model_input(
    images_uint8, image_size, center_crop=False, channels=None
):
    """The deterministic transform from stored images to model input.

    Pure TensorFlow ops, so exported SavedModels can embed it.

    Args:
      images_uint8: uint8 `[B, H, W, c]`, as the dataset stores them (a
        directory's: decoded and fitted, `dim_tf.input.image_files`).
      image_size: S, the encoder's input height and width.
      center_crop: first crop the central `min(H, S) x min(W, S)` window (for
        models trained on random crops); whatever is not S x S is then resized.
      channels: C, the encoder's channels (`data.channels`): grey <-> RGB
        conversion when c differs; None keeps c.

    Returns:
      float32 `[B, S, S, C]` in [-1, 1].
    """
    images = image_files.convert_channels(tf.convert_to_tensor(images_uint8), channels)
    if center_crop:
        images = _center_crop(images, image_size)
    if images.shape[1] != image_size or images.shape[2] != image_size:
        images = tf.image.resize(images, [image_size, image_size], "bilinear")
        # Float rounding can push an interpolated pixel a hair past 255.
        images = tf.clip_by_value(images, 0.0, 255.0)
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def make_train_dataset(
    data,
    image_size,
    global_batch_size,
    start_step=0,
    input_context=None,
    *,
    seed=0,
    augment_config=None,
    views=1,
):
    """The infinite, unlabeled, shuffled image stream DIM trains on.

    The stream is a pure function of `seed` and the position in it: epoch e
    is the examples shuffled with a seed made from (seed, e), and each
    example's crop and flip are seeded by (seed, e, its index in epoch e). A
    run resumed with `start_step=k` therefore sees exactly the batches an
    uninterrupted run sees from step k. TensorFlow's global seed
    (`tf.random.set_seed`) plays no part.

    The shuffle buffer is `shuffle_buffer_size(data, examples)`: by default
    the whole shard when it is cached (a full shuffle). When the buffer is
    smaller than the shard, the split's files are read interleaved, one
    example of each in turn, so a split listed after another (STL-10's
    "train+unlabelled") is mixed with it and not only shuffled locally.

    A directory's images are decoded and fitted to a fixed size before the
    cache (`dim_tf.input.folders`); with `data.skip_bad_images` the count of
    images that decode is taken by reading the split once here (filling the
    cache), and the number skipped is logged.

    Args:
      data: the `config.data` section (`dataset`, `data_dir`, `manual_dir`,
        `train_split`, `image_key`, `shuffle_buffer`, `random_crop`,
        `random_flip`, `cache`, `channels`, `skip_bad_images`).
      image_size: S, the encoder's input height and width.
      global_batch_size: images per step over all replicas.
      start_step: steps already taken; their batches are skipped.
      input_context: the `tf.distribute.InputContext` given by
        `strategy.distribute_datasets_from_function`; None = one pipeline.
      seed: the run's seed (`config.train.seed`).
      augment_config: the `config.augment` section; None = preset "none"
        (`data.random_crop` / `data.random_flip` decide).
      views: augmented views per image (`config.objective.views`).

    Returns:
      `tf.data.Dataset` of float32 `[per_replica_batch, S, S, C]` in [-1, 1],
      or `[per_replica_batch, views, S, S, C]` when views > 1.
    """
    batch, per_step = _batch_sizes(global_batch_size, input_context)
    images, listed = _train_images(data, image_size, input_context)
    if data.cache:
        # Cached before counting: when the count has to be taken by reading
        # the split (skipped bad images), that pass fills the cache.
        images = images.cache()
    examples = _num_examples(images, data.train_split, input_context)
    if listed is not None and examples < listed:
        logging.warning(
            "Skipped %d of %d images of split %r that cannot be decoded",
            listed - examples,
            listed,
            data.train_split,
        )
    buffer = shuffle_buffer_size(data, examples)
    seed = _pipeline_seed(seed, input_context)
    start_epoch, offset = divmod(start_step * per_step, examples)
    make_views = _view_maker(data, augment_config, views, image_size)
    ds = _epochs(images, seed, start_epoch, image_size, data, buffer, make_views)
    ds = ds.skip(offset)
    if make_views is None:
        ds = _batched_model_input(ds, batch, image_size, False, data.channels, True)
    else:
        ds = ds.batch(batch, drop_remainder=True)
    return ds.map(lambda example: example["image"]).prefetch(tf.data.AUTOTUNE)


def _train_images(data, image_size, input_context):
    """`(uint8 [H, W, C] images of the train split, examples listed or None)`.

    This pipeline's share, in a fixed order; a directory's images are
    decoded and fitted, a TFDS split's as stored.
    """
    if sources.is_directory(data.dataset):
        ds, listed = folders.read(data, data.train_split, image_size, input_context)
        return ds.map(lambda example: example["image"]), listed
    builder = sources.prepared_builder(data.dataset, data.data_dir, data.manual_dir)
    sources.image_shape(builder.info, data.image_key)
    split_info = sources.split_info(builder.info, data.train_split)
    total = split_info.num_examples if split_info is not None else None
    full_shuffle = total is not None and shuffle_buffer_size(data, total) >= total
    images = _read(
        builder,
        data.train_split,
        [data.image_key],
        input_context,
        interleave_files=not full_shuffle,
    )
    return images.map(lambda example: example[data.image_key]), None


def _view_maker(data, augment_config, views, image_size):
    """`(uint8 [H, W, C], seed) -> model input` for augmented views, or None
    for the paper's path (one view, crops and flips from the `data` flags),
    which `_augment` and `_batched_model_input` keep exactly as it was."""
    if views == 1 and (augment_config is None or augment_config.preset == "none"):
        return None
    augmentation = input_names.resolve_augmentation(augment_config, data)

    def to_model_input(image):
        return raw_images_to_model_input(
            image[tf.newaxis], image_size, channels=data.channels
        )[0]

    def make_views(image, seed):
        return augment.make_views(
            image, seed, image_size, augmentation, views, to_model_input
        )

    return make_views


def shuffle_buffer_size(data, examples):
    """The shuffle buffer of a pipeline over `examples` examples.

    Args:
      data: the `config.data` section.
      examples: examples in this pipeline's shard of the split.

    Returns:
      `data.shuffle_buffer` when set; else `examples` (a full shuffle) when
      `data.cache` keeps the decoded shard in memory anyway, or
      `UNCACHED_SHUFFLE_BUFFER` when it is read from disk every epoch.
    """
    if data.shuffle_buffer is not None:
        if data.shuffle_buffer < 1:  # Checked by dim_tf.config for users.
            raise UserError(
                f"data.shuffle_buffer is {data.shuffle_buffer}; it must be >= 1"
            )
        return data.shuffle_buffer
    return examples if data.cache else min(examples, UNCACHED_SHUFFLE_BUFFER)


def make_eval_dataset(data, split, image_size, batch_size, center_crop=None):
    """A split in a fixed order with its labels, for probes and measures.

    No augmentation: images are center-cropped when the model was trained on
    random crops (`data.random_crop`) and larger than S, else resized.

    Args:
      data: the `config.data` section (`dataset`, `data_dir`, `manual_dir`,
        `image_key`, `label_key`, `random_crop`, `channels`).
      split: TFDS split expression, e.g. "test" or "train[:10%]"; for a
        directory a split name, or an unlabeled split's part
        ("train[held_out]", `dim_tf.input.folders`).
      image_size: S, the encoder's input height and width.
      batch_size: b; the last batch may be smaller.
      center_crop: center-crop images larger than S; None = `data.random_crop`
        (a run's own choice is `dim_tf.training.runs.Run.center_crop`).

    Returns:
      Finite `tf.data.Dataset` of `(images, labels)`: float32 `[b, S, S, C]` in
      [-1, 1] and int32 `[b]` (-1 for an unlabeled directory).
    """
    if sources.is_directory(data.dataset):
        ds, _ = folders.read(data, split, image_size)
    else:
        ds = _tfds_labeled_examples(data, split)
    if center_crop is None:
        center_crop = data.random_crop
    ds = _batched_model_input(
        ds, batch_size, image_size, center_crop, data.channels, False
    )
    ds = ds.map(lambda example: (example["image"], example["label"]))
    return ds.prefetch(tf.data.AUTOTUNE)


def _tfds_labeled_examples(data, split):
    """`{"image": uint8 [H, W, C], "label": int32 []}` of a TFDS split, in order."""
    builder = sources.prepared_builder(data.dataset, data.data_dir, data.manual_dir)
    sources.image_shape(builder.info, data.image_key)
    sources.feature(builder.info, data.label_key, "label_key")
    ds = _read(builder, split, [data.image_key, data.label_key])

    def renamed(example):
        return {
            "image": example[data.image_key],
            "label": tf.cast(example[data.label_key], tf.int32),
        }

    return ds.map(renamed)


def make_files_dataset(paths, data, image_size, batch_size, raw_image_shape=None):
    """Image files in the given order, as a run's encoder takes them.

    Exactly the evaluation pipeline's transform, for any list of files (e.g.
    `dim_tf.input.image_files.list_images(path)`): each file is decoded and
    fitted as the run's dataset stores its images (a directory's: to
    `data.channels` and the stored size; a TFDS dataset's: to its channels
    and, when fixed, its height and width), then centre-cropped when the run
    trained on random crops, resized to S, converted to `data.channels` and
    scaled to [-1, 1]. The exported encoder does the same to a decoded file
    (`dim_tf.export.serving_transform`).

    Args:
      paths: image file paths (str, bytes or path-like).
      data: the run's `config.data` section (`channels`, `random_crop`,
        `skip_bad_images`).
      image_size: S, the encoder's input size.
      batch_size: b; the last batch may be smaller.
      raw_image_shape: `(H, W, C)` of the images the run's dataset stores
        (`dim_tf.training.runs.Run.raw_image_shape`); None (or H, W None): a
        directory dataset's.

    Returns:
      Finite `tf.data.Dataset` of `(images, paths)`: float32 `[b, S, S, C]`
      in [-1, 1] and string `[b]`. A file that cannot be decoded stops the
      iteration with an error naming it (`dim_tf.input.read_errors`), or is
      left out with `data.skip_bad_images`.
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
    ds = _batched_model_input(
        ds, batch_size, image_size, data.random_crop, data.channels, False
    )
    ds = ds.map(lambda example: (example["image"], example["file"]))
    return ds.prefetch(tf.data.AUTOTUNE)


def _read(builder, split, keys, input_context=None, interleave_files=False):
    """Examples of `split` in a fixed order, this pipeline's share only.

    Only the features `keys` are decoded (and returned). The order is the
    files' order, or with `interleave_files` one example of each file in turn
    (still fixed: a deterministic interleave).

    Whole files go to each input pipeline when the split has enough of them;
    otherwise every pipeline reads all files and keeps every n-th example.
    """
    split_info = sources.split_info(builder.info, split)
    if split_info is not None and not split_info.num_examples:
        raise UserError(f"split {split!r} has no examples; choose a non-empty split")
    files = list(split_info.file_instructions) if split_info is not None else []
    pipelines = input_context.num_input_pipelines if input_context else 1
    # Caching is `data.cache`'s decision, not TFDS's.
    options = {"try_autocache": False}
    if interleave_files and len(files) > 1:
        options.update(interleave_cycle_length=len(files), interleave_block_length=1)
    if pipelines > 1 and len(files) >= pipelines:
        options["input_context"] = input_context
    read_config = tfds.ReadConfig(**options)
    ds = builder.as_dataset(
        split=split,
        shuffle_files=False,
        read_config=read_config,
        decoders=tfds.decode.PartialDecoding({key: True for key in keys}),
    )
    if read_config.input_context is not None:
        # TFDS gives pipeline i the files i, i + n, ...; it drops the count.
        mine = files[input_context.input_pipeline_id :: pipelines]
        return ds.apply(
            tf.data.experimental.assert_cardinality(sum(f.take for f in mine))
        )
    if pipelines > 1:
        ds = ds.shard(pipelines, input_context.input_pipeline_id)
    return ds


def _num_examples(ds, split, input_context):
    """Examples in `ds`, from its cardinality or counted once."""
    count = int(ds.cardinality())
    if count == tf.data.UNKNOWN_CARDINALITY:
        count = int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    if count < 1:
        pipeline = input_context.input_pipeline_id if input_context else 0
        raise UserError(
            f"split {split!r} has no examples for input pipeline {pipeline}; "
            "choose a split with at least one example per pipeline"
        )
    return count


def _batch_sizes(global_batch_size, input_context):
    """(per-replica batch, examples each pipeline yields per step)."""
    if input_context is None:
        return global_batch_size, global_batch_size
    replicas = input_context.num_replicas_in_sync
    if global_batch_size % replicas:
        raise UserError(
            f"batch size {global_batch_size} is not divisible by the {replicas} "
            "replicas; use a multiple of the replica count"
        )
    batch = input_context.get_per_replica_batch_size(global_batch_size)
    # A pipeline feeds one batch to each of its replicas every step.
    return batch, batch * (replicas // input_context.num_input_pipelines)


def _pipeline_seed(seed, input_context):
    """Seed `[2]` of this input pipeline's shuffles and augmentations."""
    pipeline = input_context.input_pipeline_id if input_context else 0
    return tf.random.experimental.stateless_fold_in(
        tf.constant([seed, 0], tf.int64), tf.constant(pipeline, tf.int64)
    )


def _epochs(images, seed, start_epoch, image_size, data, buffer, make_views=None):
    """`{"image": uint8 [h, w, C]}` over epochs start_epoch, start_epoch + 1, ...

    Epoch e is `images` shuffled with a seed from (seed, e); each example is
    augmented with a seed from (seed, e, its index in epoch e): by `_augment`,
    or into model-input views by `make_views(image, seed)` when given.
    """

    def epoch(e):
        # tf.data pairs an op seed with the graph seed. Pinning this function's
        # graph seed frees the order from tf.random.set_seed (the process's
        # seed is untouched), whose value 0 also breaks tensor op seeds.
        tf.random.set_seed(_EPOCH_GRAPH_SEED)
        epoch_seed = tf.random.experimental.stateless_fold_in(seed, e)
        shuffle_seed = tf.random.stateless_uniform(
            [], epoch_seed, minval=0, maxval=2**31 - 1, dtype=tf.int64
        )
        shuffled = images.shuffle(
            buffer, seed=shuffle_seed, reshuffle_each_iteration=False
        )

        def augment(i, image):
            example_seed = tf.random.experimental.stateless_fold_in(epoch_seed, i)
            if make_views is not None:
                return {"image": make_views(image, example_seed)}
            return {"image": _augment(image, example_seed, image_size, data)}

        return shuffled.enumerate().map(augment, tf.data.AUTOTUNE)

    return tf.data.Dataset.counter(start_epoch).flat_map(epoch)


def _augment(image, seed, image_size, data):
    """Random crop (to at most S x S) and horizontal flip of uint8 `[H, W, C]`."""
    return augment.crop_and_flip(
        image, seed, image_size, data.random_crop, data.random_flip
    )


def _batched_model_input(
    ds, batch_size, image_size, center_crop, channels, drop_remainder
):
    """Batches `{"image": uint8 [H, W, c], ...}` examples into model input.

    Transforms whole batches when every image has the same static size, else
    one image at a time (images of varying size cannot be batched raw).
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
