"""Checks of a run's config that need no data and no devices.

Run before anything is built or written, so a mistyped value costs nothing
and its message says what is allowed.
"""

from dim_tf.errors import UserError
from dim_tf.evaluators import probes
from dim_tf.models import critics, encoders, priors
from dim_tf.objective import dim_loss, estimators
from dim_tf.training import strategies
from dim_tf.training.trainer import PRECISIONS


def _choice(field, value, allowed):
    if value not in allowed:
        raise UserError(
            f"unknown {field} {value!r}; choose one of {', '.join(allowed)}"
        )


def _positive(field, value, minimum=1):
    if value is None or value < minimum:
        raise UserError(f"{field} must be >= {minimum}, got {value}")


def check_config(config):
    """Raises `UserError` for the first invalid field of `config`."""
    _choice("encoder", config.encoder, encoders.ENCODERS)
    size = encoders.encoder_input_size(config.encoder)
    if config.image_size is not None and config.image_size != size:
        takes = [
            n
            for n in encoders.ENCODERS
            if encoders.encoder_input_size(n) == config.image_size
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
    _choice("objective.mode", config.objective.mode, dim_loss.MODES)
    _choice("objective.estimator", config.objective.estimator, estimators.ESTIMATORS)
    _choice("objective.prior", config.objective.prior, priors.PRIORS)
    dim_loss.resolve_weights(config.objective)
    _choice("critic.kind", config.critic.kind, critics.LOCAL_CRITICS)
    _positive("critic.units", config.critic.units)
    _positive("critic.global_units", config.critic.global_units)
    _positive("y_dim", config.y_dim)
    _positive("train.batch_size", config.train.batch_size, minimum=2)
    _positive("train.steps", config.train.steps, minimum=0)
    _positive("train.steps_per_call", config.train.steps_per_call)
    _positive("train.log_every", config.train.log_every)
    _positive("train.checkpoint_every", config.train.checkpoint_every)
    _positive("train.keep_checkpoints", config.train.keep_checkpoints)
    if not config.train.learning_rate > 0 or not config.train.prior_learning_rate > 0:
        raise UserError("train.learning_rate and train.prior_learning_rate must be > 0")
    _choice("train.precision", config.train.precision, PRECISIONS)
    _choice("strategy", config.strategy, strategies.STRATEGIES)
    check_eval_config(config.eval)


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


def check_eval_config(eval_config):
    """Raises `UserError` for the first invalid field of `config.eval`."""
    for field, allowed, what in (
        ("taps", probes.TAPS, "tap"),
        ("kinds", probes.KINDS, "probe kind"),
    ):
        try:
            probes.parse_names(eval_config[field], allowed, what)
        except UserError as err:
            raise UserError(f"eval.{field}: {err}") from None
    for field in (
        "epochs",
        "batch_size",
        "finetune_epochs",
        "mine_steps",
        "ndm_steps",
        "measure_examples",
        "neighbour_queries",
        "neighbours",
        "map_images",
        "projector_examples",
    ):
        value = eval_config[field]
        if not isinstance(value, int) or value < 1:
            raise UserError(f"eval.{field} must be an integer >= 1, got {value!r}")
    for field in ("learning_rate", "finetune_learning_rate"):
        if not eval_config[field] > 0:
            raise UserError(f"eval.{field} must be > 0, got {eval_config[field]!r}")
    for field in ("every", "few_labels"):
        value = eval_config[field]
        if not isinstance(value, int) or value < 0:
            raise UserError(
                f"eval.{field} must be an integer >= 0 (0 = off), got {value!r}"
            )
