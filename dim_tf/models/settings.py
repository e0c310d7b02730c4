"""`encoder`, `image_size`, `y_dim`, the `backbone` and `critic` sections (TensorFlow-free)."""

import math
import os
import re

from ml_collections import config_dict

from dim_tf import field_checks, models, objective
from dim_tf.errors import UserError


def defaults():
    """The model's top-level fields and the `backbone` and `critic` sections."""
    critic = config_dict.ConfigDict()
    critic.kind = "dot"  # dot (encode-and-dot) | concat (concat-and-convolve)
    critic.units = config_dict.placeholder(int)  # None = the kind's paper width.
    critic.global_units = 512  # Width of the global critic's FC layers.
    critic.score_scale = "none"  # none (the paper) | sqrt_units (AMDIM's).
    critic.score_clip = config_dict.placeholder(
        float
    )  # c: c * tanh(s / c); None = off.
    critic.score_penalty = 0.0  # Weight of the mean squared score; 0 = off.
    backbone = config_dict.ConfigDict()
    # Layers of a keras:/file: encoder's trunk (docs/architectures.md).
    backbone.local_layer = config_dict.placeholder(str)  # None = stride 8 (16).
    backbone.conv_layer = config_dict.placeholder(str)  # None = the last map.
    backbone.weights = config_dict.placeholder(str)  # None = random; a local file.
    return {
        # A name of models.ENCODERS (fixes the input size), keras:NAME or
        # file:PATH.keras; images are resized to the input size.
        "encoder": "basic32x32",
        # None = the encoder's own (models.BACKBONE_IMAGE_SIZE for a backbone).
        "image_size": config_dict.placeholder(int),
        "backbone": backbone,
        "y_dim": 64,
        "critic": critic,
    }


def resumable(record):
    """None of these fields may change on resume."""
    del record
    return set()


def check_model(config):
    """Raises `UserError` for the encoder, image size, backbone, `y_dim` or `critic`."""
    if models.is_backbone(config.encoder):
        _check_backbone(config)
    else:
        _check_paper_encoder(config)
    field_checks.integer("y_dim", config.y_dim)
    check_critic(config)


def _check_paper_encoder(config):
    if config.encoder not in models.ENCODERS:
        raise UserError(
            f"unknown encoder {config.encoder!r}; choose one of "
            f"{', '.join(models.ENCODERS)}, or a backbone: keras:NAME (a "
            "keras.applications model such as keras:ResNet50) or file:PATH.keras"
        )
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
    for field, value in config.backbone.items():
        if value is not None:
            raise UserError(
                f"backbone.{field} applies to keras:NAME and file:PATH.keras "
                f"encoders; encoder {config.encoder} has fixed layers: leave it "
                "unset (None)"
            )


def _check_backbone(config):
    """The spec's syntax, its file, `image_size` and the `backbone` section."""
    kind, _, rest = config.encoder.partition(":")
    if kind == "keras":
        if not re.fullmatch(r"[A-Za-z_]\w*", rest):
            raise UserError(
                f"encoder {config.encoder!r} must name a keras.applications "
                "constructor after keras:, such as keras:ResNet50"
            )
        names = models.keras_application_names()
        # None: Keras's layout is unknown here; the build checks the name.
        if names is not None and rest not in names:
            raise UserError(models.unknown_keras_name(rest, names))
    elif not os.path.isfile(rest):
        state = "is not a file" if os.path.exists(rest) else "does not exist"
        raise UserError(
            f"encoder {config.encoder!r}: {rest!r} {state}; give the path of a "
            "saved Keras model, file:PATH.keras"
        )
    field_checks.integer(
        "image_size",
        config.image_size,
        optional=True,
        note=f" (None = {models.BACKBONE_IMAGE_SIZE})",
    )
    backbone = config.backbone
    for field in ("local_layer", "conv_layer"):
        field_checks.text(
            f"backbone.{field}",
            backbone[field],
            optional=True,
            what="a layer name of the backbone",
        )
    weights = backbone.weights
    field_checks.text(
        "backbone.weights", weights, optional=True, what="a local weights file"
    )
    # keras:NAME with "imagenet": the build names the file to download.
    if weights is None or (kind == "keras" and weights.lower() == "imagenet"):
        return
    if not os.path.isfile(weights):
        state = "is not a file" if os.path.exists(weights) else "does not exist"
        raise UserError(
            f"backbone.weights {weights!r} {state}; give a local weights file "
            "(keras.Model.save_weights's .weights.h5) or None for random weights"
        )


def check_critic(config):
    """Raises `UserError` for a bad `critic.kind`, `units` or `global_units`."""
    field_checks.choice("critic.kind", config.critic.kind, models.LOCAL_CRITICS)
    field_checks.integer(
        "critic.units",
        config.critic.units,
        optional=True,
        note=" (or None for the kind's paper width)",
    )
    field_checks.integer("critic.global_units", config.critic.global_units)


def check_score_options(config):
    """Raises `UserError` for a bad `critic.score_*` field (needs a valid objective)."""
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
