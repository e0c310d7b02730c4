"""The `data` and `augment` sections: defaults, checks, resume rule (TensorFlow-free)."""

import numbers
import os

from ml_collections import config_dict

from dim_tf import field_checks, models
from dim_tf import input as input_names
from dim_tf.errors import UserError


def defaults():
    """The `data` and `augment` sections with their defaults."""
    data = config_dict.ConfigDict()
    data.dataset = "cifar10"  # A TFDS name or a directory (`dataset_path`).
    data.data_dir = config_dict.placeholder(str)  # TFDS data_dir; None = TFDS's.
    data.manual_dir = config_dict.placeholder(str)  # TFDS download files, offline.
    data.train_split = "train"  # What DIM trains on (labels unused).
    data.eval_train_split = "train"  # Labeled split the probes train on.
    data.eval_split = "test"  # Labeled split the probes are measured on.
    data.image_key = "image"
    data.label_key = "label"
    # None = the whole shard when cached (a full shuffle), else 10,000.
    data.shuffle_buffer = config_dict.placeholder(int)
    data.random_crop = False  # Random crops of the encoder's size.
    data.random_flip = False  # Random horizontal flips.
    data.cache = True  # Cache decoded images in memory.
    data.channels = config_dict.placeholder(int)  # 1 or 3; None = as stored.
    data.skip_bad_images = False  # A directory's undecodable files: skip or stop.

    augment = config_dict.ConfigDict()
    augment.preset = "none"  # One of `dim_tf.input.PRESETS`; knobs: None = its value.
    augment.crop_scale_min = config_dict.placeholder(float)  # Area kept by crops.
    augment.crop_scale_max = config_dict.placeholder(float)
    augment.flip = config_dict.placeholder(bool)
    augment.shared_flip = config_dict.placeholder(bool)  # One flip for both views.
    augment.translate = config_dict.placeholder(int)  # Shift in pixels; 0 = off.
    augment.translate_probability = config_dict.placeholder(float)
    augment.jitter = config_dict.placeholder(float)  # Colour-jitter strength.
    augment.hue = config_dict.placeholder(float)  # Hue bound; None = 0.2 x jitter.
    augment.jitter_probability = config_dict.placeholder(float)
    augment.grayscale_probability = config_dict.placeholder(float)
    return {"data": data, "augment": augment}


def resumable(record):
    """The fields of these sections a resumed run may change.

    Args:
      record: the new run's `dim_tf.config.to_record`.
    """
    fields = {"data.data_dir", "data.manual_dir"}
    # Only an explicit buffer keeps the shuffled stream the same with or
    # without the cache.
    if record["data"]["shuffle_buffer"] is not None:
        fields.add("data.cache")
    return fields


def dataset_path(dataset):
    """The absolute path of a directory dataset, or None for a TFDS name.

    A directory exists or starts with `/`, `./`, `../` or `~`; TFDS names may
    hold `/` and `:` ("imagenet_resized/64x64", "mnist:3.*.*").
    """
    if not isinstance(dataset, str) or not dataset.strip():
        return None
    looks_like_path = dataset.startswith(("/", "./", "../", "~")) or dataset in (
        ".",
        "..",
    )
    expanded = os.path.expanduser(dataset)
    if looks_like_path or os.path.exists(expanded):
        return os.path.abspath(expanded)
    return None


def check_data(config):
    """Raises `UserError` for the first invalid field of `config.data`."""
    data = config.data
    field_checks.text(
        "data.dataset", data.dataset, what="a TFDS name such as 'digits' or a directory"
    )
    path = dataset_path(data.dataset)
    if path is not None and not os.path.isdir(path):
        state = "is not a directory" if os.path.exists(path) else "does not exist"
        raise UserError(
            f"data.dataset {data.dataset!r} {state}; set it to a directory of "
            "images (or of .tfrecord files) or to a TFDS name such as 'digits'"
        )
    field_checks.text("data.data_dir", data.data_dir, optional=True, what="a directory")
    field_checks.text(
        "data.manual_dir", data.manual_dir, optional=True, what="a directory"
    )
    for field in ("train_split", "eval_train_split", "eval_split"):
        field_checks.text(f"data.{field}", data[field], what="a split such as 'train'")
    for field in ("image_key", "label_key"):
        field_checks.text(f"data.{field}", data[field], what="a feature name")
    field_checks.integer(
        "data.shuffle_buffer",
        data.shuffle_buffer,
        optional=True,
        note=" (or None for a full shuffle)",
    )
    for field in ("random_crop", "random_flip", "cache", "skip_bad_images"):
        field_checks.flag(f"data.{field}", data[field])
    if data.channels is not None and data.channels not in (1, 3):
        raise UserError(
            f"data.channels must be 1 (grey) or 3 (RGB), or None for the "
            f"dataset's own, got {data.channels!r}"
        )


def check_augment(config):
    """Raises `UserError` for the first invalid field of `config.augment`.

    Also a shift as wide as the encoder's input (`image_size`, else the
    encoder's) and `objective.views` > 1 with views that are always the same
    (a valid `encoder` assumed).
    """
    augment, data = config.augment, config.data
    field_checks.choice("augment.preset", augment.preset, input_names.PRESETS)
    for field in ("crop_scale_min", "crop_scale_max"):
        if augment[field] is not None:
            number = isinstance(augment[field], numbers.Real)
            if not number or not 0 < augment[field] <= 1:
                raise UserError(
                    f"augment.{field} must be in (0, 1] (or None for the "
                    f"preset's), got {augment[field]!r}"
                )
    for field in ("flip", "shared_flip"):
        if augment[field] is not None:
            field_checks.flag(f"augment.{field}", augment[field])
    field_checks.integer(
        "augment.translate",
        augment.translate,
        minimum=0,
        optional=True,
        note=" (0 = off, None = the preset's)",
    )
    if augment.jitter is not None:
        field_checks.fraction("augment.jitter", augment.jitter, top=2.5)
    if augment.hue is not None:
        field_checks.fraction("augment.hue", augment.hue, top=0.5)
    for field in (
        "translate_probability",
        "jitter_probability",
        "grayscale_probability",
    ):
        if augment[field] is not None:
            field_checks.fraction(f"augment.{field}", augment[field])
    resolved = input_names.resolve_augmentation(augment, data)
    if resolved.crop_scale_min > resolved.crop_scale_max:
        raise UserError(
            f"augment.crop_scale_min {resolved.crop_scale_min:g} is above "
            f"augment.crop_scale_max {resolved.crop_scale_max:g}; set min <= max"
        )
    image_size = models.input_size(config.encoder, config.image_size)
    if resolved.translate >= image_size:
        # The reflection that fills the border needs the image to be wider.
        raise UserError(
            f"augment.translate {resolved.translate} must be below the encoder's "
            f"input size {image_size}: at most {image_size - 1}"
        )
    views = config.objective.views
    if views > 1 and not resolved.views_can_differ(data.channels):
        raise UserError(_identical_views(views, augment.preset, data, resolved))


def _identical_views(views, preset, data, resolved):
    """The error for `views` views that are always the same, and what would make them differ."""
    presets = ", ".join(name for name in input_names.PRESETS if name != "none")
    if preset == "none":
        off = ["data.random_crop"] + ([] if resolved.flip else ["data.random_flip"])
        setting = f"augment.preset=none and {' and '.join(off)} off"
        fixes = [f"augment.preset ({presets})", *off]
    else:
        setting = (
            f"augment.preset={preset} with its shifts, colour jitter and grayscale off"
        )
        fixes = [
            "augment.translate, augment.jitter or augment.grayscale_probability "
            "above 0",
            f"another augment.preset ({presets})",
        ]
    if resolved.flip and resolved.shared_flip:
        setting += ", and one flip both views share"
        fixes.insert(0, "augment.shared_flip=False")
    if data.channels == 1 and resolved.grayscale_probability > 0:
        setting += " (grayscale leaves 1-channel views as they are)"
    return (
        f"objective.views={views} with {setting} trains on identical views; "
        f"set {', '.join(fixes)}, or objective.views=1"
    )
