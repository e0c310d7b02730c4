"""Every check of a run's config, each a one-line `UserError` naming the field.

`check_config(config)` runs before anything is built or written, so a
mistyped value costs nothing and its message says what is allowed; the
section checks (`check_data_config`, ...) are also called on their own.
Also `dataset_path`; the checks of single values are `dim_tf.field_checks`,
the `eval` section's are `dim_tf.evaluators.settings.check`.

TensorFlow-free: the choices come from the constants in the subpackages'
`__init__.py` files, so a typo is reported in well under a second.
"""

import math
import numbers
import os

from dim_tf import field_checks, models, objective, training
from dim_tf import input as input_names
from dim_tf.errors import UserError
from dim_tf.evaluators import settings as evaluator_settings


def check_config(config):
    """Raises `UserError` for the first invalid field of `config`, eval included.

    Every check of a config is here (except the replica split, which needs
    the strategy: `check_replicas`); nothing is imported but the names the
    subpackages allow.
    """
    check_data_config(config.data)
    check_model_config(config)
    check_objective_config(config.objective)
    check_scales(config.objective, config.encoder)
    check_augment_config(
        config.augment,
        config.data,
        models.ENCODER_INPUT_SIZES[config.encoder],
        config.objective.views,
    )
    check_score_options(config)
    check_train_config(config.train)
    field_checks.choice("strategy", config.strategy, training.STRATEGIES)
    if not isinstance(config.tpu, str):
        raise UserError(f"tpu is {config.tpu!r}; set it to a TPU address or ''")
    evaluator_settings.check(config.eval)


def dataset_path(dataset):
    """The absolute path of a directory dataset, or None for a TFDS name.

    `data.dataset` names a directory when it exists on disk or starts with
    `/`, `./`, `../` or `~`; anything else is a TFDS name (those may hold `/`
    and `:`, as in "imagenet_resized/64x64" or "mnist:3.*.*").

    Args:
      dataset: the `data.dataset` value.

    Returns:
      str, `~` expanded and made absolute; None for a TFDS name.
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


def check_data_config(data):
    """Raises `UserError` for the first invalid field of `config.data`."""
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


def check_model_config(config):
    """Raises `UserError` for the encoder, image size, `y_dim` or `critic` fields."""
    field_checks.choice("encoder", config.encoder, models.ENCODERS)
    size = models.ENCODER_INPUT_SIZES[config.encoder]
    if config.image_size is not None and config.image_size != size:
        takes = [
            n for n, s in models.ENCODER_INPUT_SIZES.items() if s == config.image_size
        ]
        hint = (
            f"choose encoder {' or '.join(takes)}"
            if takes
            else "leave image_size unset"
        )
        raise UserError(
            f"encoder {config.encoder} takes {size}x{size} images, not image_size="
            f"{config.image_size}; {hint}"
        )
    field_checks.integer("y_dim", config.y_dim)
    field_checks.choice("critic.kind", config.critic.kind, models.LOCAL_CRITICS)
    field_checks.integer(
        "critic.units",
        config.critic.units,
        optional=True,
        note=" (or None for the kind's paper width)",
    )
    field_checks.integer("critic.global_units", config.critic.global_units)


def check_score_options(config):
    """Raises `UserError` for a bad `critic.score_*` field (after the objective's
    checks: whether the dot critic is used depends on the weights)."""
    critic = config.critic
    field_checks.choice("critic.score_scale", critic.score_scale, models.SCORE_SCALES)
    if critic.score_scale != "none":
        if critic.kind != "dot":
            raise UserError(
                f"critic.score_scale={critic.score_scale} divides the dot critic's "
                f"dot product; critic.kind={critic.kind} has none: set "
                "critic.score_scale=none or critic.kind=dot"
            )
        if objective.resolve_weights(config.objective).beta == 0:
            raise UserError(
                f"critic.score_scale={critic.score_scale} scales the local dot "
                f"critic, which objective.mode={config.objective.mode} with beta=0 "
                "does not use; set critic.score_scale=none"
            )
    if critic.score_clip is not None and not (
        field_checks.is_real(critic.score_clip) and 0 < critic.score_clip < math.inf
    ):
        raise UserError(
            "critic.score_clip must be a finite number > 0 (or None = off), got "
            f"{critic.score_clip!r}"
        )
    if not (
        field_checks.is_real(critic.score_penalty)
        and 0 <= critic.score_penalty < math.inf
    ):
        raise UserError(
            "critic.score_penalty must be a finite number >= 0 (0 = off), got "
            f"{critic.score_penalty!r}"
        )


def check_objective_config(objective_config):
    """Raises `UserError` for the first invalid field of `config.objective`."""
    field_checks.choice("objective.mode", objective_config.mode, objective.MODES)
    field_checks.choice(
        "objective.estimator", objective_config.estimator, objective.ESTIMATORS
    )
    field_checks.choice("objective.prior", objective_config.prior, models.PRIORS)
    for field in ("alpha", "beta", "gamma"):
        value = objective_config[field]
        if value is not None and not value >= 0:
            raise UserError(
                f"objective.{field} must be >= 0 (or None for the mode's paper "
                f"weight), got {value!r}"
            )
    check_objective_extras(objective_config)
    if not objective_config.gradient_penalty >= 0:
        raise UserError(
            "objective.gradient_penalty must be >= 0, got "
            f"{objective_config.gradient_penalty!r}"
        )


def check_objective_extras(objective_config):
    """Raises `UserError` for `objective.views`, `occlusion` or `coordinates`."""
    if objective_config.views not in objective.VIEWS:
        raise UserError(
            f"objective.views must be 1 (the paper) or 2 (two augmented views), "
            f"got {objective_config.views!r}"
        )
    field_checks.fraction(
        "objective.occlusion", objective_config.occlusion, closed=False
    )
    value = objective_config.coordinates
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
        raise UserError(
            f"objective.coordinates must be a weight >= 0 (0 = off), got {value!r}"
        )


def check_scales(objective_config, encoder):
    """Raises `UserError` for a malformed `objective.scales` or one the mode ignores."""
    text = objective_config.scales
    if not isinstance(text, str):
        raise UserError(
            f"objective.scales must be a string such as 'y:local', got {text!r}"
        )
    try:
        objective.parse_scales(text, models.ENCODER_CONV_BLOCKS.get(encoder))
    except ValueError as err:
        raise UserError(str(err)) from None
    weights = objective.resolve_weights(objective_config)
    if weights.beta == 0 and text.replace(" ", "") != objective.PAPER_SCALES:
        raise UserError(
            f"objective.scales={text!r} needs a local weight: objective.mode "
            f"{objective_config.mode!r} has beta=0; set --config.objective.beta "
            "or choose mode local or local+global"
        )


def check_augment_config(augment, data, image_size=None, views=1):
    """Raises `UserError` for the first invalid field of `config.augment`.

    Given the encoder's input size S and `objective.views`, also a
    translation of S pixels or more, and two views that are always the same.
    """
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
    if image_size is not None and resolved.translate >= image_size:
        # The reflection that fills the border needs the image to be wider.
        raise UserError(
            f"augment.translate {resolved.translate} must be below the encoder's "
            f"input size {image_size}: at most {image_size - 1}"
        )
    if views > 1 and not resolved.views_can_differ(data.channels):
        raise UserError(_identical_views(views, augment.preset, data, resolved))


def _identical_views(views, preset, data, resolved):
    """The one-line error for `views` views that are always the same, and
    what would make them differ."""
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


def check_train_config(train):
    """Raises `UserError` for the first invalid field of `config.train`."""
    field_checks.integer("train.batch_size", train.batch_size, minimum=2)
    field_checks.integer("train.steps", train.steps, minimum=0)
    for field in (
        "steps_per_call",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
    ):
        field_checks.integer(f"train.{field}", train[field])
    field_checks.integer("train.seed", train.seed, minimum=0)
    for field in ("learning_rate", "prior_learning_rate"):
        field_checks.positive_number(f"train.{field}", train[field])
    for field in ("beta1", "beta2"):
        if not 0 <= train[field] < 1:
            raise UserError(f"train.{field} must be in [0, 1), got {train[field]!r}")
    if train.max_minutes is not None:
        field_checks.positive_number("train.max_minutes", train.max_minutes)
    field_checks.choice("train.precision", train.precision, training.PRECISIONS)
    for field in ("sync_batch_norm", "jit_compile"):
        field_checks.flag(f"train.{field}", train[field])


def check_replicas(config, num_replicas):
    """Raises `UserError` unless the global batch splits evenly over the replicas."""
    if config.train.batch_size % num_replicas:
        raise UserError(
            f"train.batch_size {config.train.batch_size} cannot be split over "
            f"{num_replicas} replicas; use a multiple of {num_replicas}"
        )
    if config.train.jit_compile and num_replicas > 1:
        raise UserError(
            f"train.jit_compile=True needs one replica per process, found {num_replicas}; "
            "set --config.train.jit_compile=False or --config.strategy=one_device"
        )
