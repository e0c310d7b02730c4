"""Config checks of the objective's options beyond the paper and the augment
section (TensorFlow-free): one-line errors naming what is allowed."""

import pytest

from dim_tf import config as config_lib
from dim_tf import input as input_names
from dim_tf import objective
from dim_tf.errors import UserError
from tests.tiny import override


def _check(**fields):
    config = override(config_lib.default_config(), fields)
    config_lib.check_config(config)
    return config


def test_the_defaults_are_the_paper_recipe():
    config = _check()
    assert config.objective.views == 1
    assert objective.parse_scales(config.objective.scales) == (
        objective.ScalePair("y", "local", 1.0),
    )
    assert config.objective.occlusion == 0 and config.objective.coordinates == 0
    resolved = input_names.resolve_augmentation(config.augment, config.data)
    assert resolved == input_names.Augmentation()


def test_scales_parse_weights_and_names():
    pairs = objective.parse_scales(" y:local=1, y:conv1=0.5 ,conv2:conv2", 2)
    assert [(p.source, p.target, p.weight) for p in pairs] == [
        ("y", "local", 1.0),
        ("y", "conv1", 0.5),
        ("conv2", "conv2", 1.0),
    ]
    assert pairs[1].name == "y-conv1"


@pytest.mark.parametrize(
    "fields,expected",
    [
        ({"objective.views": 3}, "objective.views must be 1"),
        ({"objective.occlusion": 1.0}, "objective.occlusion must be in [0, 1)"),
        ({"objective.occlusion": -0.1}, "objective.occlusion must be in [0, 1)"),
        ({"objective.coordinates": -1.0}, "objective.coordinates must be a weight"),
        ({"objective.scales": "y-local"}, "SOURCE:TARGET[=WEIGHT] pairs"),
        ({"objective.scales": ""}, "SOURCE:TARGET[=WEIGHT] pairs"),
        ({"objective.scales": "y:fc"}, "TARGET 'fc' in 'y:fc' is not one"),
        ({"objective.scales": "local:y"}, "TARGET 'y' in 'local:y' is not one"),
        (
            {"encoder": "basic28x28", "objective.scales": "y:conv3"},
            "conv1..conv2",
        ),
        ({"objective.scales": "y:local=0"}, "must be a number > 0"),
        ({"objective.scales": "y:local=x"}, "must be a number > 0"),
        ({"objective.scales": "y:local,y:local=2"}, "y:local is given twice"),
        (
            {"objective.mode": "global", "objective.scales": "y:conv1"},
            "needs a local weight",
        ),
        ({"augment.preset": "autoaugment"}, "unknown augment.preset 'autoaugment'"),
        ({"augment.crop_scale_min": 0.0}, "augment.crop_scale_min must be in (0, 1]"),
        ({"augment.crop_scale_max": 1.5}, "augment.crop_scale_max must be in (0, 1]"),
        (
            {
                "augment.preset": "simclr",
                "augment.crop_scale_min": 0.9,
                "augment.crop_scale_max": 0.5,
            },
            "is above augment.crop_scale_max",
        ),
        ({"augment.jitter": -0.5}, "augment.jitter must be in [0, 2.5]"),
        ({"augment.jitter_probability": 2.0}, "augment.jitter_probability must be"),
        ({"augment.grayscale_probability": -1.0}, "augment.grayscale_probability"),
        ({"augment.translate": -1}, "augment.translate must be an integer >= 0"),
        ({"augment.translate": 32}, "below the encoder's input size 32: at most 31"),
        ({"augment.translate_probability": 1.5}, "augment.translate_probability"),
        ({"augment.hue": 0.6}, "augment.hue must be in [0, 0.5]"),
        (
            {"objective.views": 2},
            "objective.views=2 with augment.preset=none and data.random_crop "
            "and data.random_flip off trains on identical views; set augment.preset",
        ),
        (
            {
                "objective.views": 2,
                "data.random_flip": True,
                "augment.shared_flip": True,
            },
            "objective.views=2 with augment.preset=none and data.random_crop off, "
            "and one flip both views share trains on identical views; set "
            "augment.shared_flip=False, augment.preset",
        ),
        (
            {
                "objective.views": 2,
                "augment.preset": "amdim_cifar10",
                "augment.translate": 0,
                "augment.jitter": 0.0,
                "data.channels": 1,
            },
            "with augment.preset=amdim_cifar10 with its shifts, colour jitter and "
            "grayscale off, and one flip both views share (grayscale leaves "
            "1-channel views as they are) trains on identical views; set "
            "augment.shared_flip=False, augment.translate",
        ),
    ],
)
def test_bad_values_are_one_line_errors(fields, expected):
    with pytest.raises(UserError) as err:
        _check(**fields)
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_presets_resolve_with_knobs_overriding_them():
    config = _check(
        **{"augment.preset": "amdim", "augment.flip": False, "augment.jitter": 0.2}
    )
    resolved = input_names.resolve_augmentation(config.augment, config.data)
    assert resolved.resized_crop and not resolved.flip
    assert (resolved.crop_scale_min, resolved.jitter) == (0.3, 0.2)
    # "none" keeps the data flags in charge; "flip_crop" is both flags on.
    flags = _check(**{"data.random_crop": True})
    assert input_names.trains_on_fixed_crops(flags.augment, flags.data)
    preset = _check(**{"augment.preset": "flip_crop"})
    assert input_names.resolve_augmentation(
        preset.augment, preset.data
    ) == input_names.Augmentation(fixed_crop=True, flip=True)


def test_new_fields_round_trip_through_the_record():
    config = _check(
        **{
            "objective.views": 2,
            "objective.scales": "y:local,local:local=0.5",
            "augment.preset": "simclr",
            "augment.crop_scale_min": 0.2,
        }
    )
    again = config_lib.from_record(config_lib.to_record(config))
    assert again.objective.views == 2
    assert again.objective.scales == "y:local,local:local=0.5"
    assert again.augment.crop_scale_min == 0.2


@pytest.mark.parametrize(
    "fields",
    [
        {"objective.views": 2, "data.random_flip": True},
        {"objective.views": 2, "data.random_crop": True},
        {"objective.views": 2, "augment.preset": "amdim_cifar10"},
        {"objective.views": 1},
    ],
)
def test_views_that_can_differ_pass(fields):
    _check(**fields)


def test_amdim_presets_are_amdims_transforms():
    """amdim-public datasets.py: TransformsSTL10 and TransformsC10."""
    stl10 = input_names.AUGMENT_PRESETS["amdim"]
    cifar10 = input_names.AUGMENT_PRESETS["amdim_cifar10"]
    for preset in (stl10, cifar10):
        # One RandomHorizontalFlip per image, shared by both views;
        # RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.2)], p=0.8);
        # RandomGrayscale(p=0.25).
        assert preset.flip and preset.shared_flip
        assert (0.8 * preset.jitter, preset.hue_bound) == (0.4, 0.2)
        assert preset.jitter_probability == 0.8
        assert preset.grayscale_probability == 0.25
    # RandomResizedCrop(64, scale=(0.3, 1.0), ratio=(0.7, 1.4)), no shift.
    assert stl10.resized_crop and not stl10.fixed_crop and stl10.translate == 0
    assert (stl10.crop_scale_min, stl10.crop_scale_max) == (0.3, 1.0)
    assert stl10.aspect_ratio == (0.7, 1.4)
    # RandomApply([RandomTranslateWithReflect(4)], p=0.8), no crop.
    assert not (cifar10.resized_crop or cifar10.fixed_crop)
    assert (cifar10.translate, cifar10.translate_probability) == (4, 0.8)
    # SimCLR flips each view on its own, ColorJitter(0.4, 0.4, 0.4, 0.1).
    simclr = input_names.AUGMENT_PRESETS["simclr"]
    assert simclr.flip and not simclr.shared_flip
    assert (0.8 * simclr.jitter, simclr.hue_bound) == (0.4, 0.1)


def test_shared_flip_and_hue_knobs_override_the_preset():
    config = _check(
        **{"augment.preset": "amdim", "augment.shared_flip": False, "augment.hue": 0.1}
    )
    resolved = input_names.resolve_augmentation(config.augment, config.data)
    assert (resolved.shared_flip, resolved.hue_bound) == (False, 0.1)
    flags = _check(**{"data.random_flip": True, "augment.shared_flip": True})
    resolved = input_names.resolve_augmentation(flags.augment, flags.data)
    assert resolved.flip and resolved.shared_flip
