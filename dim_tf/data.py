"""TFDS input pipelines: the unlabeled stream DIM trains on and labeled eval sets.

Any TFDS image dataset works by name (`digits`, embedded, builds offline).
Images reach the model as float32 in [-1, 1] at the encoder's input size via
`raw_images_to_model_input`, which exported SavedModels reuse. A user's mistake
(unknown dataset, split or feature, a dataset that is not prepared and cannot
be downloaded, a bad directory) raises a one-line `dim_tf.errors.UserError`.
"""

import difflib
import os
import re
import socket
import urllib.parse

import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf import digits  # noqa: F401  (registers the `digits` TFDS builder)
from dim_tf.errors import UserError

# `tfds.testing.mock_data` replaces this method with a no-op; only the real one
# downloads, so only it needs the network check below. (The class dict holds a
# wrapper whose attribute access makes a new object each time.)
_TFDS_DOWNLOAD_AND_PREPARE = vars(tfds.core.DatasetBuilder)["download_and_prepare"]
_PROBE_TIMEOUT_S = 5.0
_EPOCH_GRAPH_SEED = 1
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


def dataset_info(name, data_dir=None, manual_dir=None):
    """Metadata of a TFDS dataset, preparing the dataset first if needed.

    Args:
      name: TFDS name, e.g. "cifar10", "digits", "mnist:3.*.*".
      data_dir: TFDS data directory; None = TFDS's default.
      manual_dir: directory holding already-downloaded files, used instead of
        the network when the dataset has to be prepared.

    Returns:
      The dataset's `tfds.core.DatasetInfo`.

    Raises:
      UserError: unknown name, bad directory, or not prepared and not buildable.
    """
    return _prepared_builder(name, data_dir, manual_dir).info


def image_shape(info, image_key="image"):
    """`(H, W, C)` of the stored images (H, W are None when sizes vary)."""
    shape = tuple(_feature(info, image_key, "image_key").shape)
    if len(shape) != 3:
        raise UserError(
            f"feature {image_key!r} of dataset {info.name!r} has shape {shape}; "
            "image_key must name an image feature of shape [H, W, C]"
        )
    return shape


def num_classes(info, label_key="label"):
    """Number of classes of the `tfds.features.ClassLabel` feature `label_key`."""
    return _class_label(info, label_key).num_classes


def class_names(info, label_key="label"):
    """Names of the classes of `label_key`, index i naming label i."""
    return list(_class_label(info, label_key).names)


def raw_images_to_model_input(images_uint8, image_size, center_crop=False):
    """The deterministic transform from stored images to model input.

    Pure TensorFlow ops, so exported SavedModels can embed it.

    Args:
      images_uint8: uint8 `[B, H, W, C]`, as the dataset stores them.
      image_size: S, the encoder's input height and width.
      center_crop: first crop the central `min(H, S) x min(W, S)` window (for
        models trained on random crops); whatever is not S x S is then resized.

    Returns:
      float32 `[B, S, S, C]` in [-1, 1].
    """
    images = tf.convert_to_tensor(images_uint8)
    if center_crop:
        images = _center_crop(images, image_size)
    if images.shape[1] != image_size or images.shape[2] != image_size:
        images = tf.image.resize(images, [image_size, image_size], "bilinear")
        # Float rounding can push an interpolated pixel a hair past 255.
        images = tf.clip_by_value(images, 0.0, 255.0)
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def make_train_dataset(
    config, image_size, global_batch_size, start_step=0, input_context=None
):
    """The infinite, unlabeled, shuffled image stream DIM trains on.

    The stream is a pure function of `config.train.seed` and the position in
    it: epoch e is the examples shuffled with a seed made from (seed, e), and
    each example's crop and flip are seeded by (seed, e, its index in epoch
    e). A run resumed with `start_step=k` therefore sees exactly the batches
    an uninterrupted run sees from step k. TensorFlow's global seed
    (`tf.random.set_seed`) plays no part.

    Args:
      config: ConfigDict with `dataset`, `data_dir`, `manual_dir`,
        `train_split`, `image_key` and `train.{seed, shuffle_buffer,
        random_crop, random_flip, cache}`.
      image_size: S, the encoder's input height and width.
      global_batch_size: images per step over all replicas.
      start_step: steps already taken; their batches are skipped.
      input_context: the `tf.distribute.InputContext` given by
        `strategy.distribute_datasets_from_function`; None = one pipeline.

    Returns:
      `tf.data.Dataset` of float32 `[per_replica_batch, S, S, C]` in [-1, 1].
    """
    builder = _prepared_builder(config.dataset, config.data_dir, config.manual_dir)
    image_shape(builder.info, config.image_key)
    batch, per_step = _batch_sizes(global_batch_size, input_context)
    if config.train.shuffle_buffer < 1:
        raise UserError(
            f"train.shuffle_buffer is {config.train.shuffle_buffer}; it must be >= 1"
        )
    images = _read(builder, config.train_split, [config.image_key], input_context)
    images = images.map(lambda example: example[config.image_key])
    examples = _num_examples(images, config.train_split, input_context)
    if config.train.cache:
        images = images.cache()
    seed = _pipeline_seed(config.train.seed, input_context)
    start_epoch, offset = divmod(start_step * per_step, examples)
    ds = _epochs(images, seed, start_epoch, image_size, config.train).skip(offset)
    ds = _batched_model_input(ds, batch, image_size, False, drop_remainder=True)
    return ds.map(lambda example: example["image"]).prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(config, split, image_size, batch_size):
    """A labeled split in a fixed order, for probes and measures.

    No augmentation: images are center-cropped when the model was trained on
    random crops (`config.train.random_crop`) and larger than S, else resized.

    Args:
      config: ConfigDict with `dataset`, `data_dir`, `manual_dir`, `image_key`,
        `label_key` and `train.random_crop`.
      split: TFDS split expression, e.g. "test" or "train[:10%]".
      image_size: S, the encoder's input height and width.
      batch_size: b; the last batch may be smaller.

    Returns:
      Finite `tf.data.Dataset` of `(images, labels)`: float32 `[b, S, S, C]` in
      [-1, 1] and int32 `[b]`.
    """
    builder = _prepared_builder(config.dataset, config.data_dir, config.manual_dir)
    image_shape(builder.info, config.image_key)
    _feature(builder.info, config.label_key, "label_key")
    ds = _read(builder, split, [config.image_key, config.label_key])
    ds = ds.map(
        lambda example: {
            "image": example[config.image_key],
            "label": tf.cast(example[config.label_key], tf.int32),
        }
    )
    ds = _batched_model_input(
        ds, batch_size, image_size, config.train.random_crop, drop_remainder=False
    )
    ds = ds.map(lambda example: (example["image"], example["label"]))
    return ds.prefetch(tf.data.AUTOTUNE)


def _prepared_builder(name, data_dir, manual_dir):
    """The TFDS builder of `name`, prepared in `data_dir`."""
    data_dir = _checked_dir("data_dir", data_dir, create=True)
    manual_dir = _checked_dir("manual_dir", manual_dir, create=False)
    builder = _builder(name, data_dir)
    if not builder.is_prepared():
        _prepare(builder, manual_dir)
    return builder


def _builder(name, data_dir):
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"dataset is {name!r}; set it to a TFDS name such as 'digits'")
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(_unknown_dataset_message(name)) from None
    except (ValueError, AssertionError) as err:
        raise UserError(_bad_variant_message(name, err)) from err


def _unknown_dataset_message(name):
    close = difflib.get_close_matches(
        _base_name(name), tfds.list_builders(with_community_datasets=False), n=3
    )
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return (
        f"unknown dataset {name!r}{hint}; see tfds.list_builders() for every "
        "TFDS name ('digits' is the embedded one)"
    )


def _bad_variant_message(name, err):
    """For a known dataset with a bad config, version or syntax."""
    # TFDS prefixes the builder kwargs it tried and appends a multi-line list.
    reason = re.sub(r'^Failed to construct dataset .*?": ', "", str(err).strip())
    message = f"cannot load dataset {name!r} ({_first_line(reason).split(' Here')[0]})"
    try:
        cls = tfds.builder_cls(_base_name(name))
    except ValueError:
        return f"{message}; the format is name[/config][:version]"
    configs = [config.name for config in cls.BUILDER_CONFIGS or []] or ["none"]
    versions = [str(v) for v in [cls.VERSION, *cls.SUPPORTED_VERSIONS] if v]
    return (
        f"{message}; the format is name[/config][:version], configs: "
        f"{', '.join(configs[:10] + ['...'] * (len(configs) > 10))}; "
        f"versions: {', '.join(versions) or 'per config'}"
    )


def _base_name(name):
    return name.split("/")[0].split(":")[0]


def _prepare(builder, manual_dir):
    """Downloads (or reads from manual_dir) and prepares `builder`'s dataset."""
    missing = _unreachable_downloads(builder, manual_dir)
    if missing:
        raise UserError(
            _not_prepared_message(builder, f"cannot download {', '.join(missing)}")
        )
    download_config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        builder.download_and_prepare(download_config=download_config)
    except Exception as err:  # Whatever the cause, the dataset cannot be built.
        reason = f"{type(err).__name__}: {_first_line(err)}"
        raise UserError(_not_prepared_message(builder, reason)) from err


def _not_prepared_message(builder, reason):
    return (
        f"dataset {builder.name!r} is not prepared in {builder.data_dir} and "
        f"cannot be built ({reason}); place its download files in manual_dir "
        "(config.manual_dir) or a prepared copy in data_dir, see BUILD.md"
    )


def _unreachable_downloads(builder, manual_dir):
    """Sorted names of files to download that are not in manual_dir, if offline.

    TFDS retries an unreachable host for minutes before failing, so the hosts
    are probed first. [] when every file is in manual_dir or every host answers.
    """
    current = vars(tfds.core.DatasetBuilder)["download_and_prepare"]
    if current is not _TFDS_DOWNLOAD_AND_PREPARE:
        return []
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        return []  # TFDS itself fails fast when the manual files are missing.
    needed = {
        url: info.filename or url.rsplit("/", 1)[-1]
        for url, info in (builder.url_infos or {}).items()
    }
    if manual_dir:
        needed = {
            url: name
            for url, name in needed.items()
            if not tf.io.gfile.exists(os.path.join(manual_dir, name))
        }
    urls = [urllib.parse.urlparse(url) for url in needed]
    hosts = {(u.hostname, u.port or _DEFAULT_PORTS.get(u.scheme, 443)) for u in urls}
    if all(_reachable(*host) for host in hosts):
        return []
    return sorted(set(needed.values()))


def _reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def _checked_dir(field, path, create):
    """`path` with ~ expanded, after checking it is a usable directory."""
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        raise UserError(
            f"{field} is {path!r}; set it to a directory or leave it unset (None)"
        )
    path = os.path.expanduser(path)
    try:
        if not tf.io.gfile.exists(path):
            if not create:
                raise UserError(
                    f"{field} {path!r} does not exist; it must be a directory"
                )
            tf.io.gfile.makedirs(path)
        if not tf.io.gfile.isdir(path):
            raise UserError(f"{field} {path!r} is not a directory; it must be one")
        tf.io.gfile.listdir(path)
    except (tf.errors.OpError, OSError) as err:
        raise UserError(
            f"{field} {path!r} cannot be created or listed ({type(err).__name__}); "
            "it must be a directory you can read and write (created if missing)"
        ) from err
    return path


def _first_line(err):
    """First line of an error (or its text), at most 160 characters."""
    lines = str(err).strip().splitlines()
    line = lines[0] if lines else type(err).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def _split_info(info, split):
    """TFDS split info of `split` (None when the splits are not known)."""
    if not info.splits:  # e.g. under tfds.testing.mock_data
        return None
    try:
        return info.splits[split]
    except (KeyError, ValueError, TypeError, AssertionError):
        raise UserError(
            f"unknown split {split!r} of dataset {info.name!r}; available splits: "
            f"{', '.join(info.splits)} (combine with '+', slice like 'train[:10%]')"
        ) from None


def _feature(info, key, field):
    features = info.features
    keys = list(features.keys()) if hasattr(features, "keys") else []
    if key not in keys:
        raise UserError(
            f"dataset {info.name!r} has no feature {key!r} ({field}); "
            f"available features: {', '.join(keys)}"
        )
    return features[key]


def _class_label(info, label_key):
    feature = _feature(info, label_key, "label_key")
    if not isinstance(feature, tfds.features.ClassLabel):
        raise UserError(
            f"feature {label_key!r} of dataset {info.name!r} is not a class label; "
            "label_key must name a tfds.features.ClassLabel feature"
        )
    return feature


def _read(builder, split, keys, input_context=None):
    """Examples of `split` in a fixed order, this pipeline's share only.

    Only the features `keys` are decoded (and returned).

    Whole files go to each input pipeline when the split has enough of them;
    otherwise every pipeline reads all files and keeps every n-th example.
    """
    split_info = _split_info(builder.info, split)
    if split_info is not None and not split_info.num_examples:
        raise UserError(f"split {split!r} has no examples; choose a non-empty split")
    files = list(split_info.file_instructions) if split_info is not None else []
    pipelines = input_context.num_input_pipelines if input_context else 1
    # Caching is `config.train.cache`'s decision, not TFDS's.
    read_config = tfds.ReadConfig(try_autocache=False)
    if pipelines > 1 and len(files) >= pipelines:
        read_config = tfds.ReadConfig(try_autocache=False, input_context=input_context)
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


def _epochs(images, seed, start_epoch, image_size, train):
    """`{"image": uint8 [h, w, C]}` over epochs start_epoch, start_epoch + 1, ...

    Epoch e is `images` shuffled with a seed from (seed, e); each example is
    augmented with a seed from (seed, e, its index in epoch e).
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
            train.shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False
        )

        def augment(i, image):
            example_seed = tf.random.experimental.stateless_fold_in(epoch_seed, i)
            return {"image": _augment(image, example_seed, image_size, train)}

        return shuffled.enumerate().map(augment, tf.data.AUTOTUNE)

    return tf.data.Dataset.counter(start_epoch).flat_map(epoch)


def _augment(image, seed, image_size, train):
    """Random crop (to at most S x S) and horizontal flip of uint8 `[H, W, C]`."""
    if train.random_crop:
        height = _minimum(_dim(image, 0), image_size)
        width = _minimum(_dim(image, 1), image_size)
        size = tf.stack([height, width, _dim(image, 2)])  # Static if the shape is.
        crop_seed = tf.random.experimental.stateless_fold_in(seed, 0)
        image = tf.image.stateless_random_crop(image, size, crop_seed)
    if train.random_flip:
        flip_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return image


def _batched_model_input(ds, batch_size, image_size, center_crop, drop_remainder):
    """Batches `{"image": uint8 [H, W, C], ...}` examples into model input.

    Transforms whole batches when every image has the same static size, else
    one image at a time (images of varying size cannot be batched raw).
    """

    def transform(example, batched):
        images = example["image"] if batched else example["image"][tf.newaxis]
        images = raw_images_to_model_input(images, image_size, center_crop)
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
    height, width = _dim(images, 1), _dim(images, 2)
    crop_h, crop_w = _minimum(height, size), _minimum(width, size)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return images[:, top : top + crop_h, left : left + crop_w, :]


def _dim(x, axis):
    """Static size of `axis` when known, else the dynamic one."""
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def _minimum(a, b):
    return min(a, b) if isinstance(a, int) else tf.minimum(a, b)
