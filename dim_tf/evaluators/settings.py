"""The `eval` config section: its defaults, checks and resume rule (TensorFlow-free).

Shared fields sit at `eval` level; each evaluator's own are a sub-section
named after it (`eval.knn.k`), defined and checked in one block below.
"""

from ml_collections import config_dict

from dim_tf import evaluators, field_checks, models
from dim_tf.errors import UserError
from dim_tf.evaluators import base

# Fields a resumed run may change (prefixes): evaluation never changes training.
RESUMABLE = ("eval.",)
# The default bound on a backbone's stored map taps: a 224-pixel ResNet50's
# 7x7x2048 conv tap is kept as 2x2x2048.
BACKBONE_TAP_FEATURES = 16_384


def defaults():
    """`config.eval`: every field with its default, sub-sections included."""
    section = config_dict.ConfigDict()
    # Comma-separated: encoder outputs (conv, fc, y); evaluators.KINDS or plug-ins.
    section.taps = "conv,fc,y"
    section.kinds = "linear,mlp,finetune,knn"
    # The frozen-feature probes (linear, mlp): epochs on cached features, Adam.
    section.epochs = 20
    section.batch_size = 256
    section.learning_rate = 1e-3
    # Labeled training examples the frozen probes keep in memory (0 = all).
    section.max_train_examples = 50_000
    # Floats per example a stored map tap or kept image may hold (0 = any):
    # larger ones are average-pooled (evaluators/pooling.py). None: the
    # paper's encoders whole (as the DIM code's probes read them), a
    # backbone's within BACKBONE_TAP_FEATURES.
    section.max_tap_features = config_dict.placeholder(int)
    section.random_baseline = True  # Same linear probes on a random encoder.
    section.few_labels = 10  # Linear probes on n labels per class too (0 = off).
    section.label_fractions = ""  # E.g. "0.01,0.1": probes on such label subsets.
    section.seed = 0
    section.every = 0  # Probe every N training steps (0 = only bin/evaluate).
    for name, (fields, _) in _SUBSECTIONS.items():
        section[name] = fields()
    return section


def check(eval_config):
    """Raises `UserError` for the first invalid field of `config.eval`."""
    field_checks.parse_names("eval.taps", eval_config.taps, evaluators.TAPS)
    base.parse_kinds("eval.kinds", eval_config.kinds)
    for field in ("epochs", "batch_size"):
        field_checks.integer(f"eval.{field}", eval_config[field])
    field_checks.positive_number("eval.learning_rate", eval_config.learning_rate)
    for field, zero in (
        ("every", "off"),
        ("few_labels", "off"),
        ("max_train_examples", "all"),
    ):
        field_checks.integer(
            f"eval.{field}", eval_config[field], minimum=0, note=f" (0 = {zero})"
        )
    if eval_config.max_tap_features is not None:
        field_checks.integer(
            "eval.max_tap_features",
            eval_config.max_tap_features,
            minimum=0,
            note=" (0 = no bound)",
        )
    field_checks.integer("eval.seed", eval_config.seed, minimum=0)
    field_checks.flag("eval.random_baseline", eval_config.random_baseline)
    label_fractions(eval_config)
    for name, (_, check_fields) in _SUBSECTIONS.items():
        check_fields(eval_config[name])


def label_fractions(eval_config):
    """The fractions of `eval.label_fractions`, ascending (empty when off)."""
    return field_checks.parse_numbers(
        "eval.label_fractions",
        eval_config.label_fractions,
        "fractions in (0, 1]",
        maximum=1.0,
        empty=True,
    )


# `eval.mlp`: the frozen mlp probes (probes/frozen.py).
def _mlp():
    mlp = config_dict.ConfigDict()
    mlp.batch_scale = 8  # Batches up to this many times eval.batch_size (1 to 9).
    mlp.precision = "auto"  # The hidden layer's: auto | float32 | bfloat16.
    return mlp


def _check_mlp(mlp):
    field_checks.choice("eval.mlp.precision", mlp.precision, evaluators.PRECISIONS)
    # Adam's beta_1 = 1 - 0.1 x batch_scale must stay positive.
    scale = mlp.batch_scale
    if not field_checks.is_int(scale) or not 1 <= scale <= 9:
        raise UserError(
            f"eval.mlp.batch_scale must be an integer from 1 to 9 (1 = batches of "
            f"eval.batch_size), got {scale!r}"
        )


# `eval.finetune`: the mlp head trained with a copy of the encoder (probes/finetune.py).
def _finetune():
    finetune = config_dict.ConfigDict()
    finetune.epochs = 10
    finetune.learning_rate = 1e-4
    return finetune


def _check_finetune(finetune):
    field_checks.integer("eval.finetune.epochs", finetune.epochs)
    field_checks.positive_number("eval.finetune.learning_rate", finetune.learning_rate)


# `eval.knn`: weighted k-nearest neighbours by cosine similarity (knn.py).
def _knn():
    knn = config_dict.ConfigDict()
    knn.k = 200  # Neighbours per query (clipped to the memory's size).
    knn.temperature = 0.1  # Votes weigh exp(cosine similarity / T).
    knn.precision = "auto"  # The similarities' products: auto | float32 | bfloat16.
    return knn


def _check_knn(knn):
    field_checks.integer("eval.knn.k", knn.k)
    field_checks.positive_number("eval.knn.temperature", knn.temperature)
    field_checks.choice("eval.knn.precision", knn.precision, evaluators.PRECISIONS)


# `eval.svm`: a linear SVM (svm.py).
def _svm():
    svm = config_dict.ConfigDict()
    svm.cs = "0.01,0.1,1"  # C is chosen among these on held-out features.
    svm.max_examples = 1000  # A stratified sample of the training features (0 = all).
    return svm


def _check_svm(svm):
    field_checks.integer(
        "eval.svm.max_examples", svm.max_examples, minimum=0, note=" (0 = all)"
    )
    svm_c_values(svm)


def svm_c_values(svm):
    """The C values of `eval.svm.cs`, ascending (`UserError` if malformed)."""
    return field_checks.parse_numbers("eval.svm.cs", svm.cs, "C values > 0")


# `eval.decoder`: images reconstructed from frozen Y, measured by MS-SSIM (decoder.py).
def _decoder():
    decoder = config_dict.ConfigDict()
    decoder.epochs = 10
    decoder.learning_rate = 1e-3
    decoder.examples = 10_000  # Images per split.
    return decoder


def _check_decoder(decoder):
    for field in ("epochs", "examples"):
        field_checks.integer(f"eval.decoder.{field}", decoder[field])
    field_checks.positive_number("eval.decoder.learning_rate", decoder.learning_rate)


# `eval.mi`: MINE and NDM on Y (mi.py).
def _mi():
    mi = config_dict.ConfigDict()
    mi.mine_steps = 2000  # Steps of MINE's statistics network.
    mi.ndm_steps = 2000  # Steps of NDM's discriminator.
    mi.examples = 10_000  # Examples per split.
    return mi


def _check_mi(mi):
    for field, value in mi.items():
        field_checks.integer(f"eval.mi.{field}", value)


# `eval.views`: the TensorBoard views of every evaluation (views.py).
def _views():
    views = config_dict.ConfigDict()
    # The nearest-neighbour grid (in Y): its rows, and neighbours per row.
    views.neighbour_queries = 8
    views.neighbours = 8
    views.map_images = 8  # Test images shown with their local MI map.
    views.projector_examples = 1000  # Test images in the projector.
    return views


def _check_views(views):
    for field, value in views.items():
        field_checks.integer(f"eval.views.{field}", value)


_SUBSECTIONS = {
    "mlp": (_mlp, _check_mlp),
    "finetune": (_finetune, _check_finetune),
    "knn": (_knn, _check_knn),
    "svm": (_svm, _check_svm),
    "decoder": (_decoder, _check_decoder),
    "mi": (_mi, _check_mi),
    "views": (_views, _check_views),
}


def tap_features_bound(config):
    """The resolved `eval.max_tap_features` of `config` (0 = no bound)."""
    bound = config.eval.max_tap_features
    if bound is not None:
        return bound
    return BACKBONE_TAP_FEATURES if models.is_backbone(config.encoder) else 0
