"""The input pipeline DIM trains on: an unlabeled, shuffled, augmented image stream.

Every source goes through the same cache, shuffle, augmentation and batching,
and reaches the model through `model_input`, as in evaluation
(`dim_tf.input.eval_sets`) and in exported SavedModels. The datasets are
found and prepared by `dim_tf.input.sources`; a bad split
raises a one-line `dim_tf.errors.UserError`.
"""

import tensorflow as tf
from absl import logging

from dim_tf import input as input_names
from dim_tf.errors import UserError
from dim_tf.input import augment, cache_memory, folders, image_files, sources, tfds_read
from dim_tf.input.model_input import batched_model_input, raw_images_to_model_input

_EPOCH_GRAPH_SEED = 1
# Default shuffle buffer when the decoded split is not cached.
UNCACHED_SHUFFLE_BUFFER = 10_000


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

    A pure function of `seed` and the position (epoch e shuffled by (seed, e),
    examples augmented by (seed, e, index)): a run resumed at `start_step`
    sees the batches an uninterrupted one does.

    Args:
      data: the `config.data` section.
      image_size: S, the encoder's input height and width.
      global_batch_size: images per step over all replicas.
      start_step: steps already taken; their batches are skipped.
      input_context: a `tf.distribute.InputContext`; None = one pipeline.
      seed: the run's seed (`config.train.seed`).
      augment_config: the `config.augment` section; None = preset "none".
      views: augmented views per image (`config.objective.views`).

    Returns:
      `tf.data.Dataset` of float32 `[per_replica_batch, S, S, C]` in [-1, 1],
      or `[per_replica_batch, views, S, S, C]` when views > 1.
    """
    batch, per_step = _batch_sizes(global_batch_size, input_context)
    images, listed = _train_images(data, image_size, input_context)
    if data.cache:
        # Before the first pass, which fills the cache.
        cached = listed if listed is not None else int(images.cardinality())
        cache_memory.check(cached, tuple(images.element_spec.shape))
        # Cached before counting, so a counting pass fills the cache.
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
    make_views = view_maker(data, augment_config, views, image_size)
    ds = _epochs(images, seed, start_epoch, image_size, data, buffer, make_views)
    ds = ds.skip(offset)
    if make_views is None:
        ds = batched_model_input(ds, batch, image_size, False, data.channels, True)
    else:
        ds = ds.batch(batch, drop_remainder=True)
    return ds.map(lambda example: example["image"]).prefetch(tf.data.AUTOTUNE)


def _train_images(data, image_size, input_context):
    """`(uint8 [H, W, C] images of the train split, examples listed or None)`.

    This pipeline's share, in a fixed order.
    """
    if sources.is_directory(data.dataset):
        ds, listed = folders.read(data, data.train_split, image_size, input_context)
        return ds.map(lambda example: example["image"]), listed
    builder = sources.prepared_builder(data.dataset, data.data_dir, data.manual_dir)
    sources.image_shape(builder.info, data.image_key)
    split_info = sources.split_info(builder.info, data.train_split)
    total = split_info.num_examples if split_info is not None else None
    full_shuffle = total is not None and shuffle_buffer_size(data, total) >= total
    images = tfds_read.read(
        builder,
        data.train_split,
        [data.image_key],
        input_context,
        interleave_files=not full_shuffle,
    )
    return images.map(lambda example: example[data.image_key]), None


def view_maker(data, augment_config, views, image_size):
    """`(uint8 [H, W, C], seed) -> model input`, or None for the paper's path."""
    if views == 1 and (augment_config is None or augment_config.preset == "none"):
        return None
    augmentation = input_names.resolve_augmentation(augment_config, data)

    def to_model_input(image):
        return raw_images_to_model_input(
            image[tf.newaxis], image_size, channels=data.channels
        )[0]

    def make_views(image, seed):
        # Channels first, so every augmentation path yields `data.channels`.
        image = image_files.convert_channels(image, data.channels)
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
      `data.shuffle_buffer` when set; else `examples` (a full shuffle) with
      `data.cache`, or `UNCACHED_SHUFFLE_BUFFER`.
    """
    if data.shuffle_buffer is not None:
        return data.shuffle_buffer
    return examples if data.cache else min(examples, UNCACHED_SHUFFLE_BUFFER)


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
    """`{"image": uint8 [h, w, C]}` over epochs start_epoch, start_epoch + 1, ..."""

    def epoch(e):
        # Pinning the graph seed frees the order from tf.random.set_seed,
        # whose value 0 also breaks tensor op seeds.
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
