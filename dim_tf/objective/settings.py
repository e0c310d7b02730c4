"""The `objective` section: defaults, checks (TensorFlow-free)."""

from ml_collections import config_dict

from dim_tf import field_checks, models, objective
from dim_tf.errors import UserError


def defaults():
    """The `objective` section; the defaults are the paper's DIM(L)."""
    section = config_dict.ConfigDict()
    section.mode = "local"  # local | global | local+global
    section.estimator = "jsd"  # jsd | nce | dv
    # None = the mode's paper weight (`dim_tf.objective.PAPER_WEIGHTS`).
    section.alpha = config_dict.placeholder(float)  # Global MI weight.
    section.beta = config_dict.placeholder(float)  # Local MI weight.
    section.gamma = config_dict.placeholder(float)  # Prior weight.
    section.prior = "uniform"  # uniform | gaussian | none
    section.gradient_penalty = 1.0  # Weight of 0.5*(E|dD(real)|^2+...).
    section.views = 1  # 1 = the paper; 2 = MI across two augmented views.
    section.scales = objective.PAPER_SCALES  # MI pairs SOURCE:TARGET[=WEIGHT], ...
    section.occlusion = 0.0  # Area fraction hidden from Y; 0 = off.
    section.coordinates = 0.0  # Weight of the grid-position loss; 0 = off.
    return {"objective": section}


def resumable(record):
    """None of these fields may change on resume."""
    del record
    return set()


def check_objective(config):
    """Raises `UserError` for the first invalid field of `config.objective`.

    `scales` is checked against `config.encoder`'s maps (a valid encoder assumed).
    """
    section = config.objective
    field_checks.choice("objective.mode", section.mode, objective.MODES)
    field_checks.choice("objective.estimator", section.estimator, objective.ESTIMATORS)
    field_checks.choice("objective.prior", section.prior, models.PRIORS)
    for field in ("alpha", "beta", "gamma"):
        value = section[field]
        if value is not None and not value >= 0:
            raise UserError(
                f"objective.{field} must be >= 0 (or None for the mode's paper "
                f"weight), got {value!r}"
            )
    if section.views not in objective.VIEWS:
        raise UserError(
            f"objective.views must be 1 (the paper) or 2 (two augmented views), "
            f"got {section.views!r}"
        )
    field_checks.fraction("objective.occlusion", section.occlusion, closed=False)
    value = section.coordinates
    if not field_checks.is_real(value) or value < 0:
        raise UserError(
            f"objective.coordinates must be a weight >= 0 (0 = off), got {value!r}"
        )
    if not section.gradient_penalty >= 0:
        raise UserError(
            f"objective.gradient_penalty must be >= 0, got {section.gradient_penalty!r}"
        )
    _check_scales(section, config.encoder)


def _check_scales(section, encoder):
    text = section.scales
    if not isinstance(text, str):
        raise UserError(
            f"objective.scales must be a string such as 'y:local', got {text!r}"
        )
    try:
        # A backbone's maps are "local" and "conv" (no block maps convK).
        blocks = 0 if models.is_backbone(encoder) else None
        objective.parse_scales(text, models.ENCODER_CONV_BLOCKS.get(encoder, blocks))
    except ValueError as err:
        raise UserError(str(err)) from None
    if (
        objective.resolve_weights(section).beta == 0
        and text.replace(" ", "") != objective.PAPER_SCALES
    ):
        raise UserError(
            f"objective.scales={text!r} needs a local weight: objective.mode "
            f"{section.mode!r} has beta=0; set --config.objective.beta "
            "or choose mode local or local+global"
        )
