"""The checks of the `eval` section and the parsers of its comma-separated fields.

TensorFlow-free; the other sections' checks are in their subpackages'
`settings` modules.
"""

from dim_tf import evaluators, field_checks
from dim_tf.errors import UserError


def check_eval_config(eval_config):
    """Raises `UserError` for the first invalid field of `config.eval`."""
    field_checks.parse_names("eval.taps", eval_config.taps, evaluators.TAPS)
    field_checks.parse_names("eval.kinds", eval_config.kinds, evaluators.KINDS)
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
        "decoder_epochs",
        "decoder_examples",
    ):
        field_checks.integer(f"eval.{field}", eval_config[field])
    for field in ("learning_rate", "finetune_learning_rate", "decoder_learning_rate"):
        field_checks.positive_number(f"eval.{field}", eval_config[field])
    for field in ("every", "few_labels", "max_train_examples", "svm_max_examples"):
        field_checks.integer(
            f"eval.{field}", eval_config[field], minimum=0, note=" (0 = off)"
        )
    field_checks.integer("eval.seed", eval_config.seed, minimum=0)
    field_checks.flag("eval.random_baseline", eval_config.random_baseline)
    field_checks.integer("eval.knn_k", eval_config.knn_k)
    field_checks.positive_number("eval.knn_temperature", eval_config.knn_temperature)
    field_checks.choice(
        "eval.knn_precision", eval_config.knn_precision, evaluators.PRECISIONS
    )
    field_checks.choice(
        "eval.mlp_precision", eval_config.mlp_precision, evaluators.PRECISIONS
    )
    svm_cs(eval_config)
    label_fractions(eval_config)
    # Adam's beta_1 = 1 - 0.1 x batch_scale must stay positive.
    scale = eval_config.batch_scale
    if not field_checks.is_int(scale) or not 1 <= scale <= 9:
        raise UserError(
            f"eval.batch_scale must be an integer from 1 to 9 (1 = batches of "
            f"eval.batch_size), got {scale!r}"
        )


def svm_cs(eval_config):
    """The C values of `eval.svm_cs`, ascending (`UserError` if malformed)."""
    return field_checks.parse_numbers("eval.svm_cs", eval_config.svm_cs, "C values > 0")


def label_fractions(eval_config):
    """The fractions of `eval.label_fractions`, ascending (empty when off)."""
    return field_checks.parse_numbers(
        "eval.label_fractions",
        eval_config.label_fractions,
        "fractions in (0, 1]",
        maximum=1.0,
        empty=True,
    )
