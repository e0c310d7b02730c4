"""A run's config: every field with its default, and how a workdir records it.

`default_config()` lists what can be set (the files in the repository's
`configs/` start from it and change only what differs). `to_record` /
`from_record` are what a workdir's config.json holds and how it is read
back. The checks live in `dim_tf.config_checks`;
`check_config` and the parsers are re-exported here, where callers look.
The `eval` section is `dim_tf.evaluators.settings`'s.

TensorFlow-free, as `config_checks` is.
"""

from ml_collections import config_dict

from dim_tf import models, objective
from dim_tf.config_checks import (  # noqa: F401  (re-exported)
    check_config,
    check_data_config,
    check_replicas,
    dataset_path,
)
from dim_tf.errors import UserError
from dim_tf.evaluators import settings as evaluator_settings
from dim_tf.field_checks import parse_names, parse_numbers  # noqa: F401  (re-exported)


def default_config():
    """Every config field with its default: the paper's DIM(L) on CIFAR10."""
    config = config_dict.ConfigDict()

    # Data: any TFDS image dataset with an image feature (and a label feature
    # for evaluation), or a directory of your own images (docs/usage.md,
    # "Training on your own images"). `digits` is the embedded dataset shipped
    # with dim_tf.
    config.data = config_dict.ConfigDict()
    config.data.dataset = "cifar10"  # TFDS name, or a directory (see `dataset_path`).
    # TFDS data_dir (None = TFDS's default) and the download files, offline.
    config.data.data_dir = config_dict.placeholder(str)
    config.data.manual_dir = config_dict.placeholder(str)
    config.data.train_split = "train"  # What DIM trains on (labels unused).
    config.data.eval_train_split = "train"  # Labeled split the probes train on.
    config.data.eval_split = "test"  # Labeled split the probes are measured on.
    config.data.image_key = "image"
    config.data.label_key = "label"
    # Examples in the shuffle buffer; None = all the examples of this
    # pipeline's shard when `cache` is on (a full shuffle), else 10,000. When
    # the buffer holds less than the split, the split's files are also read
    # interleaved, so e.g. STL-10's unlabelled images mix with its labeled ones.
    config.data.shuffle_buffer = config_dict.placeholder(int)
    config.data.random_crop = False  # Random crops of the encoder's size.
    config.data.random_flip = False  # Random horizontal flips.
    config.data.cache = True  # Cache decoded images in memory.
    # Image channels the encoder takes: 1 (grey) or 3 (RGB), converted from
    # what is stored; None = the TFDS dataset's own, 3 for a directory.
    config.data.channels = config_dict.placeholder(int)
    # A directory's files that cannot be decoded: False stops with their name,
    # True skips them (the count is logged).
    config.data.skip_bad_images = False

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
    # Beyond the paper (docs/method.md, "Views, scales and extra tasks"); the
    # defaults are the paper's recipe.
    # 1 = the paper; 2 = two augmented views per image, MI across them.
    config.objective.views = 1
    # MI pairs SOURCE:TARGET[=WEIGHT], comma-separated: SOURCE y or a map,
    # TARGET a map (local, conv, conv1..convK); their weighted sum is the
    # local term (weight beta). "y:local" is the paper's DIM(L).
    config.objective.scales = objective.PAPER_SCALES
    # Fraction of the image area hidden (one random square per image) when
    # computing Y; local features see the whole image. 0 = off.
    config.objective.occlusion = 0.0
    # Weight of the auxiliary loss predicting each local vector's grid
    # position from it and Y (cross-entropy over M*M positions). 0 = off.
    config.objective.coordinates = 0.0

    config.critic = config_dict.ConfigDict()
    config.critic.kind = "dot"  # dot (encode-and-dot) | concat (concat-and-convolve)
    # Width of the local critic; None = the paper's for the kind: 2048-unit
    # embeddings for dot, 512-512-1 for concat (docs/architectures.md).
    config.critic.units = config_dict.placeholder(int)
    config.critic.global_units = 512  # Width of the global critic's FC layers.
    # Score regularisation against the large early scores of wide critics
    # (docs/method.md): none (the paper) | sqrt_units (dot product / sqrt(units)).
    config.critic.score_scale = "none"
    # None = off (the paper); c > 0: every critic's scores soft-clipped to
    # c * tanh(s / c) before the MI estimator, e.g. 20.
    config.critic.score_clip = config_dict.placeholder(float)
    # Weight of the mean squared score (before the clip) added to the loss.
    config.critic.score_penalty = 0.0

    # Augmentation of the training images (dim_tf/input/augment.py): a preset
    # and knobs that override its values (None = the preset's).
    config.augment = config_dict.ConfigDict()
    # none (data.random_crop / random_flip decide) | flip_crop | simclr |
    # amdim (AMDIM's STL-10 transform) | amdim_cifar10 (AMDIM's CIFAR10 one).
    config.augment.preset = "none"
    # Random resized crops: the area fraction kept is in [min, max].
    config.augment.crop_scale_min = config_dict.placeholder(float)
    config.augment.crop_scale_max = config_dict.placeholder(float)
    config.augment.flip = config_dict.placeholder(bool)  # Horizontal flips.
    # True: both views of an image share one flip draw (amdim's); False: each
    # view flips on its own (simclr's).
    config.augment.shared_flip = config_dict.placeholder(bool)
    # Random shifts of up to n pixels, border reflected (0 = off), and their chance.
    config.augment.translate = config_dict.placeholder(int)
    config.augment.translate_probability = config_dict.placeholder(float)
    # Colour-jitter strength s (brightness/contrast/saturation 0.8 s) and the
    # hue shift's bound (a fraction of the colour wheel; None: 0.2 s).
    config.augment.jitter = config_dict.placeholder(float)
    config.augment.hue = config_dict.placeholder(float)
    config.augment.jitter_probability = config_dict.placeholder(float)
    config.augment.grayscale_probability = config_dict.placeholder(float)

    config.train = config_dict.ConfigDict()
    config.train.batch_size = 64  # Global batch, split across replicas.
    config.train.steps = 100_000
    # Stop after this many minutes of training, counted across resumes (None =
    # no limit): the run saves a checkpoint at the step reached and ends
    # normally; rerunning with a larger value goes on.
    config.train.max_minutes = config_dict.placeholder(float)
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
    # probes on frozen features of each tap, MINE and NDM (docs/protocol.md).
    config.eval = evaluator_settings.defaults()

    # auto | mirrored | one_device | multi_worker | tpu
    config.strategy = "auto"
    config.tpu = ""  # TPU address for strategy=tpu ("" = local).
    return config


def to_record(config):
    """What `DIR/config.json` stores: `config` as a plain dict.

    `critic.units` is recorded as the width the critic is built with, so a
    run records what it computes, and a directory `data.dataset` as its
    absolute path.
    """
    record = config.to_dict()
    record["critic"]["units"] = models.local_critic_units(
        config.critic.kind, config.critic.units
    )
    # A directory is recorded absolute: evaluate and export find it from
    # anywhere, and "./photos" resumes a run recorded as "/home/me/photos".
    record["data"]["dataset"] = dataset_path(config.data.dataset) or config.data.dataset
    return record


def from_record(recorded):
    """`default_config()` updated from a recorded config dict (config.json).

    Fields this version does not have are skipped; fields the record lacks
    keep their defaults.
    """
    config = default_config()
    known = set(flatten(to_record(config)))
    for name, value in flatten(recorded).items():
        if name not in known:
            continue
        try:
            config.update_from_flattened_dict({name: value})
        except (TypeError, ValueError) as err:
            raise UserError(
                f"the recorded {name} is {value!r}, which this version cannot "
                f"take ({err}); use a new --workdir"
            ) from None
    return config


def flatten(tree, prefix=""):
    """Nested dict -> {"a.b": value}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
