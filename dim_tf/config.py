"""A run's config: every field with its default, and how a workdir records it.

`default_config()` lists what can be set (the files in the repository's
`configs/` start from it and change only what differs). `to_record` /
`from_record` are what a workdir's config.json holds and how it is read
back. The checks live in `dim_tf.config_checks`;
`check_config` and the parsers are re-exported here, where callers look.

TensorFlow-free, as `config_checks` is.
"""

from ml_collections import config_dict

from dim_tf import models, objective
from dim_tf.config_checks import (  # noqa: F401  (re-exported)
    check_config,
    check_data_config,
    check_eval_config,
    check_replicas,
    dataset_path,
    label_fractions,
    svm_cs,
)
from dim_tf.errors import UserError
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
    # classifiers on frozen features of each tap, MINE and NDM (docs/protocol.md).
    config.eval = config_dict.ConfigDict()
    config.eval.taps = "conv,fc,y"  # Comma-separated subset of conv, fc, y.
    # linear | mlp (200 hidden, dropout 0.1, BN, ReLU) | finetune (the paper's
    # "SS": the mlp trained together with a copy of the encoder) | knn
    # (weighted k-nearest neighbours, cosine) | svm (linear SVM, C chosen on a
    # held-out part of the training features) | decoder (images reconstructed
    # from frozen Y, measured by MS-SSIM; Y only).
    config.eval.kinds = "linear,mlp,finetune,knn"
    config.eval.epochs = 20  # Epochs of the probes on cached frozen features.
    config.eval.batch_size = 256
    config.eval.learning_rate = 1e-3  # Adam, for the frozen-feature probes.
    # Frozen `mlp` probes on a large training set batch up to this many
    # times batch_size (while an epoch keeps >= 100 steps), with Adam scaled
    # by the square-root rule (lr x sqrt(k), 1 - betas x k): about the same
    # training in k times fewer steps. 1 = always batch_size. 1 to 9.
    # Linear probes always train at batch_size.
    config.eval.batch_scale = 8
    # The frozen mlp probes' hidden layer (most of their cost on conv):
    # float32, bfloat16 (its inputs and matrix products; float32 weights,
    # Adam, batch norm and loss; the saved head computes in float32) or auto
    # (bfloat16 on taps of >= 4,096 dims where a quick measurement finds it
    # 1.5 times faster).
    config.eval.mlp_precision = "float32"
    config.eval.finetune_epochs = 10
    config.eval.finetune_learning_rate = 1e-4  # Adam, encoder and classifier.
    config.eval.mine_steps = 2000  # Steps of MINE's statistics network.
    config.eval.ndm_steps = 2000  # Steps of NDM's discriminator.
    config.eval.measure_examples = 10_000  # Examples per split MINE and NDM use.
    # Labeled training examples the frozen-feature probes use (0 = all): caps
    # the features kept in memory on large splits.
    config.eval.max_train_examples = 50_000
    config.eval.decoder_epochs = 10  # Epochs of the `decoder` kind's training.
    config.eval.decoder_learning_rate = 1e-3  # Its Adam.
    # Images of each split the decoder trains on / is measured on (kept in
    # memory: 10,000 32x32x3 images are 123 MB).
    config.eval.decoder_examples = 10_000
    config.eval.random_baseline = True  # Same linear probes on a random encoder.
    # Also linear probes on only this many labeled examples per class (0 =
    # off): full-label probes on easy data saturate for any features.
    config.eval.few_labels = 10
    # Also linear (and, with finetune, fine-tuned) probes on these fractions
    # of each class's labels, e.g. "0.01,0.1" ("" = off).
    config.eval.label_fractions = ""
    config.eval.knn_k = 200  # Neighbours per query (clipped to the memory's size).
    config.eval.knn_temperature = 0.1  # Votes weigh exp(cosine similarity / T).
    # The kNN similarities' matrix products: float32 (exact), bfloat16
    # (inputs rounded to 8 bits of mantissa, similarities to about 1e-3;
    # faster where the CPU has bfloat16 units, slower where not)
    # or auto (bfloat16 where a quick measurement finds it 1.5 times faster).
    config.eval.knn_precision = "float32"
    config.eval.svm_cs = "0.01,0.1,1"  # The SVM's C is chosen among these.
    # Labeled training examples the SVM uses, a stratified sample (0 = all of
    # the probes' features): its solver's cost grows with examples x dims.
    config.eval.svm_max_examples = 1000
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
