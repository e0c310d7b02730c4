"""A run's config composed from the sections' `settings` modules; config.json records.

TensorFlow-free.
"""

from ml_collections import config_dict

from dim_tf import models
from dim_tf.config_checks import (  # noqa: F401  (re-exported)
    check_eval_config,
    label_fractions,
    svm_cs,
)
from dim_tf.errors import UserError
from dim_tf.field_checks import parse_names, parse_numbers  # noqa: F401  (re-exported)
from dim_tf.input import settings as input_settings
from dim_tf.models import settings as models_settings
from dim_tf.objective import settings as objective_settings
from dim_tf.training import settings as training_settings

# Each has `defaults()`, its sections' checks and `resumable(record)`.
SETTINGS = (input_settings, models_settings, objective_settings, training_settings)


def default_config():
    """Every config field with its default: the paper's DIM(L) on CIFAR10."""
    config = config_dict.ConfigDict()
    for settings in SETTINGS:
        for name, value in settings.defaults().items():
            config[name] = value

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

    return config


def check_config(config):
    """Raises `UserError` for the first invalid field of `config`, eval included.

    In this order: later checks rely on the fields checked before. The
    replica split needs the strategy (`training.settings.check_replicas`).
    """
    input_settings.check_data(config)
    models_settings.check_model(config)
    objective_settings.check_objective(config)
    input_settings.check_augment(config)
    models_settings.check_score_options(config)
    training_settings.check_train(config)
    check_eval_config(config.eval)


def resumable_fields(record):
    """The fields a run may change when it resumes (`record`: its `to_record`)."""
    return set().union(*(settings.resumable(record) for settings in SETTINGS))


def to_record(config):
    """What `DIR/config.json` stores: a plain dict of what the run computes with."""
    record = config.to_dict()
    record["critic"]["units"] = models.local_critic_units(
        config.critic.kind, config.critic.units
    )
    # Absolute: "./photos" resumes a run recorded as "/home/me/photos".
    record["data"]["dataset"] = (
        input_settings.dataset_path(config.data.dataset) or config.data.dataset
    )
    return record


def from_record(recorded):
    """`default_config()` updated from a config.json dict; unknown fields are skipped."""
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
