"""Backbone encoders in the config: `encoder="keras:NAME"` / `"file:PATH.keras"`,
`image_size` and the `backbone` section; their checks, records and build."""

import os

import keras
import numpy as np
import pytest

from dim_tf import config as config_lib
from dim_tf import models, workdir
from dim_tf.errors import UserError
from dim_tf.models import backbones, encoders


def _config(**overrides):
    config = config_lib.default_config()
    config.data.dataset = "digits"
    config.update_from_flattened_dict(overrides)
    return config


def _bad(**overrides):
    with pytest.raises(UserError) as info:
        config_lib.check_config(_config(**overrides))
    message = str(info.value)
    assert "\n" not in message
    return message


def _small_model_file(path, channels=3):
    inputs = keras.Input((None, None, channels))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2")(x)
    keras.Model(inputs, x).save(path)
    return path


def test_backbone_specs_pass_the_checks(tmp_path):
    config_lib.check_config(_config(encoder="keras:MobileNetV3Small"))
    path = _small_model_file(str(tmp_path / "m.keras"))
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"")
    config_lib.check_config(
        _config(
            **{
                "encoder": f"file:{path}",
                "image_size": 40,
                "backbone.local_layer": "c1",
                "backbone.conv_layer": "c2",
                "backbone.weights": str(weights),
            }
        )
    )


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (
            {"encoder": "keras:ResNt50"},
            "keras:ResNt50 is not a keras.applications vision model; did you mean "
            "ResNet50",
        ),
        ({"encoder": "keras:"}, "must name a keras.applications constructor"),
        ({"encoder": "keras:Res Net"}, "must name a keras.applications constructor"),
        ({"encoder": "file:/no/such.keras"}, "'/no/such.keras' does not exist"),
        ({"encoder": "file:/"}, "'/' is not a file"),
        ({"encoder": "resnet"}, "or a backbone: keras:NAME"),
        (
            {"encoder": "keras:VGG16", "image_size": 0},
            "image_size must be an integer >= 1 (None = 64), got 0",
        ),
        (
            {"backbone.local_layer": "conv3"},
            "backbone.local_layer applies to keras:NAME and file:PATH.keras "
            "encoders; encoder basic32x32 has fixed layers",
        ),
        (
            {"encoder": "keras:VGG16", "backbone.local_layer": ""},
            "backbone.local_layer is ''",
        ),
        (
            {"encoder": "keras:VGG16", "backbone.weights": "/no/w.h5"},
            "backbone.weights '/no/w.h5' does not exist",
        ),
        (
            {"encoder": "keras:VGG16", "objective.scales": "y:local,y:conv1"},
            "TARGET 'conv1' in 'y:conv1' is not one",
        ),
        # The paper's encoders keep their rule.
        ({"image_size": 64}, "encoder basic32x32 takes 32x32 images"),
    ],
)
def test_bad_backbone_fields_are_one_line(overrides, fragment):
    assert fragment in _bad(**overrides)


def test_a_backbone_takes_both_named_maps_in_scales():
    config_lib.check_config(
        _config(encoder="keras:VGG16", **{"objective.scales": "y:local,y:conv"})
    )


def test_image_size_defaults():
    assert models.input_size("keras:VGG16") == models.BACKBONE_IMAGE_SIZE == 64
    assert models.input_size("keras:VGG16", 96) == 96
    assert models.input_size("basic28x28") == 28
    config = _config(encoder="keras:VGG16", **{"augment.translate": 64})
    with pytest.raises(UserError, match="input size 64: at most 63"):
        config_lib.check_config(config)


def test_keras_names_read_without_keras_are_keras_s_own():
    assert models.keras_application_names() == tuple(
        sorted(backbones.keras_constructors())
    )


def test_the_record_holds_absolute_paths_and_the_image_size(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _small_model_file("m.keras")
    (tmp_path / "w.weights.h5").write_bytes(b"")
    config = _config(**{"encoder": "file:m.keras", "backbone.weights": "w.weights.h5"})
    record = config_lib.to_record(config)
    assert record["encoder"] == f"file:{tmp_path / 'm.keras'}"
    assert record["backbone"]["weights"] == str(tmp_path / "w.weights.h5")
    assert record["image_size"] == 64
    assert config_lib.to_record(config_lib.from_record(record)) == record
    # The paper's encoders record image_size as given.
    assert config_lib.to_record(_config())["image_size"] is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("encoder", "keras:VGG16"),
        ("image_size", 32),
        ("backbone.local_layer", "block2_pool"),
        ("backbone.conv_layer", "block3_pool"),
    ],
)
def test_no_backbone_field_changes_on_resume(tmp_path, field, value):
    config = _config(encoder="keras:MobileNetV3Small")
    workdir.write_config(str(tmp_path), config_lib.to_record(config))
    workdir.check_same_run(str(tmp_path), config)
    config.update_from_flattened_dict({field: value})
    with pytest.raises(UserError, match=f"different config .*{field}"):
        workdir.check_same_run(str(tmp_path), config)


def test_build_encoder_dispatches_a_backbone_with_its_section(tmp_path):
    path = _small_model_file(str(tmp_path / "m.keras"), channels=1)
    encoder = encoders.build_encoder(
        f"file:{path}",
        (24, 24, 1),
        y_dim=5,
        sync_batch_norm=True,
        backbone={"local_layer": "c1", "conv_layer": None, "weights": None},
    )
    out = encoder(np.zeros((2, 24, 24, 1), "float32"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "local": (2, 12, 12, 8),
        "conv": (2, 6, 6, 16),
        "fc": (2, 16),
        "y": (2, 5),
    }
    assert encoder.get_layer("bn").synchronized
    assert encoder.get_layer("bn").momentum == 0.9  # dim_tf's, not Keras's 0.99.
    plain = encoders.build_encoder("keras:MobileNetV3Small", (32, 32, 1), y_dim=5)
    norms = backbones.batch_norms(plain)
    assert len(norms) == 34
    assert not any(layer.synchronized for layer in norms)
    assert {layer.momentum for layer in norms} == {0.9}  # Keras's is 0.999.
    own = backbones.resolve_backbone(
        "keras:MobileNetV3Small", 32, batch_norm_momentum=None
    )
    assert {layer.momentum for layer in backbones.batch_norms(own)} == {0.999}
    with pytest.raises(UserError, match="square images, got 24x32"):
        encoders.build_encoder(f"file:{path}", (24, 32, 1))


def test_the_record_of_a_missing_weights_file_is_left_as_given(tmp_path):
    # Only files that exist are made absolute; the check refuses the rest.
    config = _config(encoder="keras:VGG16", **{"backbone.weights": "imagenet"})
    config_lib.check_config(config)
    assert config_lib.to_record(config)["backbone"]["weights"] == "imagenet"
    assert not os.path.exists("imagenet")


def test_a_file_model_too_large_for_the_images_is_one_line(tmp_path):
    path = str(tmp_path / "valid.keras")
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 5, padding="valid", name="c1")(inputs)
    keras.Model(inputs, keras.layers.Conv2D(4, 5, name="c2")(x)).save(path)
    with pytest.raises(UserError, match=r"cannot be built for 6x6 images") as info:
        encoders.build_encoder(f"file:{path}", (6, 6, 3))
    assert "\n" not in str(info.value)


def test_the_backbone_functions_are_dim_tf_attributes():
    import dim_tf

    assert dim_tf.resolve_backbone is backbones.resolve_backbone
    assert dim_tf.encoder_from_backbone is backbones.encoder_from_backbone
