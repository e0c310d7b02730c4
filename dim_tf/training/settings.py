"""The `train` section, `strategy` and `tpu`: defaults, checks, resume rule (TensorFlow-free)."""

from ml_collections import config_dict

from dim_tf import field_checks
from dim_tf.errors import UserError

# `strategy` values (`dim_tf.training.strategies.make_strategy`).
STRATEGIES = ("auto", "mirrored", "one_device", "multi_worker", "tpu")
# `auto` or a Keras dtype policy (`dim_tf.training.precision.resolve`).
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")

# How long, how often to log and save, and which hardware: never what is
# computed. The precision too: variables are float32 under each policy, and
# `auto` chooses anew on every start, so a run may move between machines.
_RESUMABLE = frozenset(
    {
        "strategy",
        "tpu",
        "train.precision",
        "train.steps",
        "train.max_minutes",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.steps_per_call",
        "train.jit_compile",
    }
)


def defaults():
    """The `train` section, `strategy` and `tpu`."""
    train = config_dict.ConfigDict()
    train.batch_size = 64  # Global batch, split across replicas.
    train.steps = 100_000
    # Minutes of training, counted across resumes; None = no limit.
    train.max_minutes = config_dict.placeholder(float)
    train.learning_rate = 1e-4
    train.beta1 = 0.5
    train.beta2 = 0.999
    train.prior_learning_rate = 1e-4  # The discriminator's own Adam.
    train.seed = 0
    train.steps_per_call = 10  # Steps inside one tf.function call.
    train.log_every = 100  # Steps between absl log lines and summaries.
    train.checkpoint_every = 1000
    train.keep_checkpoints = 3
    train.sync_batch_norm = True  # Batch statistics over the global batch.
    # auto (mixed_bfloat16 where the device has bfloat16 units, else float32)
    # | float32 | mixed_bfloat16 | mixed_float16.
    train.precision = "auto"
    train.jit_compile = False  # XLA for the training step.
    return {
        "train": train,
        "strategy": "auto",  # auto | mirrored | one_device | multi_worker | tpu
        "tpu": "",  # TPU address for strategy=tpu ("" = local).
    }


def resumable(record):
    """The fields a resumed run may change (`record`: a `dim_tf.config.to_record`)."""
    fields = set(_RESUMABLE)
    # Its loss-scaled optimizer holds other variables than the plain Adam.
    if record["train"]["precision"] == "mixed_float16":
        fields.discard("train.precision")
    return fields


def check_train(config):
    """Raises `UserError` for the first invalid field of `train`, `strategy`, `tpu`."""
    train = config.train
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
    field_checks.choice("train.precision", train.precision, PRECISIONS)
    for field in ("sync_batch_norm", "jit_compile"):
        field_checks.flag(f"train.{field}", train[field])
    field_checks.choice("strategy", config.strategy, STRATEGIES)
    if not isinstance(config.tpu, str):
        raise UserError(f"tpu is {config.tpu!r}; set it to a TPU address or ''")


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
