"""A run's config composed from the sections' `settings` modules; config.json records.

TensorFlow-free.
"""

import os

from ml_collections import config_dict

from dim_tf import models
from dim_tf.errors import UserError
from dim_tf.evaluators import settings as evaluator_settings
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

    config.eval = evaluator_settings.defaults()
    # A config file that sets a field that does not exist fails to load.
    config.lock()
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
    evaluator_settings.check(config.eval)


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
    if models.is_backbone(config.encoder):
        record["image_size"] = models.input_size(config.encoder, config.image_size)
        kind, _, path = config.encoder.partition(":")
        if kind == "file":
            record["encoder"] = f"file:{os.path.abspath(path)}"
        weights = config.backbone.weights
        if weights is not None and os.path.isfile(weights):
            record["backbone"]["weights"] = os.path.abspath(weights)
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
