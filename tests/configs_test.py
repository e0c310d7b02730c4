"""Every config in configs/ loads, passes the checks and builds its models."""

import glob
import importlib
import math
import os

import pytest
import tensorflow as tf

from dim_tf import config as config_lib
from dim_tf import input as input_names
from dim_tf import models
from dim_tf.input import settings
from dim_tf.models import backbone_maps, backbones
from dim_tf.training import build

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = sorted(
    os.path.basename(path)[:-3]
    for path in glob.glob(os.path.join(REPO, "configs", "*.py"))
    if not os.path.basename(path).startswith("_")
)


def test_the_paper_configs_exist():
    assert {
        "base",
        "quickstart",
        "cifar10_local_jsd",
        "cifar10_local_nce",
        "cifar10_global",
        "cifar10_local_global",
        "cifar100_local_jsd",
        "stl10_local_jsd",
        "tiny_imagenet_local_jsd",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_config_checks_and_builds(name, tmp_path):
    config = importlib.import_module(f"configs.{name}").get_config()
    if settings.dataset_path(config.data.dataset):
        # A folder config's placeholder path, which users replace.
        assert not os.path.exists(config.data.dataset)
        config.data.dataset = str(tmp_path)
    config_lib.check_config(config)
    # A config file can add fields: a misspelt or renamed one would be ignored.
    fields = set(config_lib.flatten(config.to_dict()))
    assert fields == set(config_lib.flatten(config_lib.default_config().to_dict()))
    docstring = importlib.import_module(f"configs.{name}").__doc__
    if name != "base":
        assert "bin/train --config=configs/" + name + ".py" in docstring
    # Small critics keep the build fast; the architecture is the config's own.
    config.critic.units = 8
    size = models.input_size(config.encoder, config.image_size)
    run = build.build_trainer(config, (size, size, 3), tf.distribute.get_strategy())
    features = run.encoder(tf.zeros((2, size, size, 3)))
    assert features["y"].shape == (2, config.y_dim)
    assert (run.global_critic is not None) == (config.objective.mode != "local")
    assert (run.local_critic is not None) == (config.objective.mode != "global")


@pytest.mark.parametrize("name", ["cifar10_views", "stl10_views"])
def test_the_amdim_configs_stabilise_scores_as_amdim(name):
    """amdim-public costs.py: scores / sqrt(width), 0.05 mean(s^2), tanh clip 20."""
    critic = importlib.import_module(f"configs.{name}").get_config().critic
    assert critic.kind == "dot" and critic.score_scale == "sqrt_units"
    assert (critic.score_penalty, critic.score_clip) == (0.05, 20.0)


@pytest.mark.parametrize(
    "name, preset", [("cifar10_views", "amdim_cifar10"), ("stl10_views", "amdim")]
)
def test_the_amdim_configs_use_amdims_transform_of_their_dataset(name, preset):
    config = importlib.import_module(f"configs.{name}").get_config()
    resolved = input_names.resolve_augmentation(config.augment, config.data)
    assert resolved == input_names.AUGMENT_PRESETS[preset]


@pytest.mark.parametrize("name", ["folder_backbone", "stl10_resnet50"])
def test_the_backbone_recipes_train_two_simclr_views_at_96_pixels(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    assert config.encoder.startswith("keras:") and config.image_size == 96
    assert (config.objective.views, config.augment.preset) == (2, "simclr")
    assert (config.objective.estimator, config.objective.prior) == ("nce", "none")
    assert config.critic.score_scale == "sqrt_units" and config.critic.score_clip


@pytest.mark.parametrize(
    "name, local_layer, local_shape",
    [
        ("folder_backbone", "block3b_add", (12, 12, 48)),
        ("stl10_resnet50", "conv3_block4_out", (12, 12, 512)),
    ],
)
def test_the_backbone_recipes_score_the_stride_8_map(name, local_layer, local_shape):
    """The local map the docstrings name; each recipe keeps its taps whole."""
    config = importlib.import_module(f"configs.{name}").get_config()
    trunk = backbones.resolve_backbone(config.encoder, config.image_size)
    layer = backbone_maps.default_local_layer(trunk)
    assert (layer.name, tuple(layer.output.shape[1:])) == (local_layer, local_shape)
    assert math.prod(trunk.output.shape[1:]) <= config.eval.max_tap_features
    assert config.image_size**2 * 3 <= config.eval.max_tap_features
