"""A run's config: every field with its default, and every check of it.

`default_config()` lists what can be set (the files in the repository's
`configs/` start from it and change only what differs). `check_config` runs
before anything is built or written, so a mistyped value costs nothing and
its message says what is allowed.
"""

from ml_collections import config_dict

from dim_tf.errors import UserError
from dim_tf.evaluators import KINDS, TAPS
from dim_tf.evaluators.registry import parse_names
from dim_tf.models import critics, encoders, priors
from dim_tf.objective import dim_loss, estimators
from dim_tf.training import PRECISIONS, strategies

# Old name -> the `data` field it now is.
LEGACY_TOP_LEVEL = (
    "dataset",
    "data_dir",
    "manual_dir",
    "train_split",
    "eval_train_split",
    "eval_split",
    "image_key",
    "label_key",
)
LEGACY_TRAIN = ("shuffle_buffer", "random_crop", "random_flip", "cache")


def default_config():
    """Every config field with its default: the paper's DIM(L) on CIFAR10."""
    config = config_dict.ConfigDict()

    # Data: any TFDS image dataset with an image feature (and a label feature
    # for evaluation). `digits` is the embedded dataset shipped with dim_tf.
    config.data = config_dict.ConfigDict()
    config.data.dataset = "cifar10"
    # TFDS data_dir (None = TFDS's default) and the download files, offline.
    config.data.data_dir = config_dict.placeholder(str)
    config.data.manual_dir = config_dict.placeholder(str)
    config.data.train_split = "train"  # What DIM trains on (labels unused).
    config.data.eval_train_split = "train"  # Labeled split the probes train on.
    config.data.eval_split = "test"  # Labeled split the probes are measured on.
    config.data.image_key = "image"
    config.data.label_key = "label"
    config.data.shuffle_buffer = 10_000
    config.data.random_crop = False  # Random crops of the encoder's size.
    config.data.random_flip = False  # Random horizontal flips.
    config.data.cache = True  # Cache decoded images in memory.

    # Model. The encoder fixes the input size; images are resized to it.
    config.encoder = "basic32x32"
    # The size images are fed at; None = the encoder's own size (28, 32 or 64).
    config.image_size = config_dict.placeholder(int)
    config.y_dim = 64

    config.objective = config_dict.ConfigDict()
    config.objective.mode = "local"  # local | global | local+global
    config.objective.estimator = "jsd"  # jsd | nce | dv
    # None = the paper's value for the mode (see dim_tf/objective/dim_loss.py).
    config.objective.alpha = config_dict.placeholder(float)  # Global MI weight.
    config.objective.beta = config_dict.placeholder(float)  # Local MI weight.
    config.objective.gamma = config_dict.placeholder(float)  # Prior weight.
    config.objective.prior = "uniform"  # uniform | gaussian | none
    config.objective.gradient_penalty = 1.0  # Weight of 0.5*(E|dD(real)|^2+...).

    config.critic = config_dict.ConfigDict()
    config.critic.kind = "dot"  # dot (encode-and-dot) | concat (concat-and-convolve)
    config.critic.units = 2048  # Width of the encode-and-dot embeddings.
    config.critic.global_units = 512  # Width of the global critic's FC layers.

    config.train = config_dict.ConfigDict()
    config.train.batch_size = 64  # Global batch, split across replicas.
    config.train.steps = 100_000
    config.train.learning_rate = 1e-4
    config.train.beta1 = 0.5
    config.train.beta2 = 0.999
    config.train.prior_learning_rate = 1e-4  # The discriminator's own Adam.
    config.train.seed = 0
    config.train.steps_per_call = 10  # Steps inside one tf.function call.
    config.train.log_every = 100  # Steps between absl log lines and summaries.
    config.train.checkpoint_every = 1000
    config.train.keep_checkpoints = 3
    config.train.sync_batch_norm = True  # Batch statistics over the global batch.
    config.train.precision = "float32"  # float32 | mixed_bfloat16 | mixed_float16
    config.train.jit_compile = False  # XLA for the training step.

    # Evaluation (bin/evaluate, and probes during training when `every` > 0):
    # classifiers on frozen features of each tap, MINE and NDM (PAPER.md).
    config.eval = config_dict.ConfigDict()
    config.eval.taps = "conv,fc,y"  # Comma-separated subset of conv, fc, y.
    # linear | mlp (200 hidden, dropout 0.1, BN, ReLU) | finetune (the paper's
    # "SS": the mlp trained together with a copy of the encoder).
    config.eval.kinds = "linear,mlp,finetune"
    config.eval.epochs = 20  # Epochs of the probes on cached frozen features.
    config.eval.batch_size = 256
    config.eval.learning_rate = 1e-3  # Adam, for the frozen-feature probes.
    config.eval.finetune_epochs = 10
    config.eval.finetune_learning_rate = 1e-4  # Adam, encoder and classifier.
    config.eval.mine_steps = 2000  # Steps of MINE's statistics network.
    config.eval.ndm_steps = 2000  # Steps of NDM's discriminator.
    config.eval.measure_examples = 10_000  # Examples per split MINE and NDM use.
    config.eval.random_baseline = True  # Same linear probes on a random encoder.
    # Also linear probes on only this many labeled examples per class (0 =
    # off): full-label probes on easy data saturate for any features.
    config.eval.few_labels = 10
    config.eval.seed = 0
    # Probe every N training steps (linear / mlp probes, MINE, NDM as
    # TensorBoard curves under DIR/eval); 0 = only when bin/evaluate runs.
    config.eval.every = 0
    config.eval.neighbour_queries = 8  # Rows of the nearest-neighbour grid.
    config.eval.neighbours = 8  # Neighbours per query, nearest first.
    config.eval.map_images = 8  # Test images shown with their local MI map.
    config.eval.projector_examples = 1000  # Test images in the projector.

    # auto | mirrored | one_device | multi_worker | tpu
    config.strategy = "auto"
    config.tpu = ""  # TPU address for strategy=tpu ("" = local).
    # The names these fields had before the `data` section, kept for a
    # release: each is the same value as its `data` field (setting either sets
    # both), and config.json records only the `data` field.
    for name in LEGACY_TOP_LEVEL:
        config[name] = config.data.get_ref(name)
    for name in LEGACY_TRAIN:
        config.train[name] = config.data.get_ref(name)
    return config


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
        ("taps", TAPS, "tap"),
        ("kinds", KINDS, "probe kind"),
    ):
        try:
            parse_names(eval_config[field], allowed, what)
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
