"""`encoder`, `image_size`, `y_dim` and the `critic` section: defaults, checks (TensorFlow-free)."""

import math

from ml_collections import config_dict

from dim_tf import field_checks, models, objective
from dim_tf.errors import UserError


def defaults():
    """The model's top-level fields and the `critic` section."""
    critic = config_dict.ConfigDict()
    critic.kind = "dot"  # dot (encode-and-dot) | concat (concat-and-convolve)
    critic.units = config_dict.placeholder(int)  # None = the kind's paper width.
    critic.global_units = 512  # Width of the global critic's FC layers.
    critic.score_scale = "none"  # none (the paper) | sqrt_units (AMDIM's).
    critic.score_clip = config_dict.placeholder(
        float
    )  # c: c * tanh(s / c); None = off.
    critic.score_penalty = 0.0  # Weight of the mean squared score; 0 = off.
    return {
        "encoder": "basic32x32",  # Fixes the input size; images are resized to it.
        "image_size": config_dict.placeholder(int),  # None = the encoder's own.
        "y_dim": 64,
        "critic": critic,
    }


def resumable(record):
    """None of these fields may change on resume."""
    del record
    return set()


def check_model(config):
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
    check_critic(config)


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
