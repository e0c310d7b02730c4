"""Tests for dim_tf.models.backbones, backbone_input, backbone_maps: taps, ranges, errors."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.models import backbone_input, backbone_maps, backbones
from tests import strategies


@functools.cache
def _trunk(name, size, channels=3):
    return backbones.resolve_backbone(f"keras:{name}", size, channels)


def _images(size, channels=3, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, size, size, channels)).astype("float32")


def _outputs(model, x):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(x).items()}


# name -> local, conv, fc shapes at 64x64 (the default local layer: stride 8).
TAPS_64 = {
    "MobileNetV3Small": ((8, 8, 24), (2, 2, 576), (576,)),
    "ResNet50": ((8, 8, 512), (2, 2, 2048), (2048,)),
    "EfficientNetV2B0": ((8, 8, 48), (2, 2, 1280), (1280,)),
    "ConvNeXtTiny": ((8, 8, 192), (2, 2, 768), (768,)),
}


@pytest.mark.parametrize("name", TAPS_64)
def test_taps_of_keras_backbones_at_64(name):
    encoder = backbones.encoder_from_backbone(_trunk(name, 64), y_dim=16)
    for batch in (1, 3):
        out = encoder(_images(64, batch=batch))
        local, conv, fc = TAPS_64[name]
        assert tuple(out["local"].shape) == (batch, *local)
        assert tuple(out["conv"].shape) == (batch, *conv)
        assert tuple(out["fc"].shape) == (batch, *fc)
        assert tuple(out["y"].shape) == (batch, 16)
    # fc is the last map average-pooled; y a linear layer on it.
    out = _outputs(encoder, _images(64))
    np.testing.assert_allclose(out["fc"], out["conv"].mean(axis=(1, 2)), atol=1e-5)
    kernel, bias = encoder.get_layer("y").get_weights()
    np.testing.assert_allclose(out["y"], out["fc"] @ kernel + bias, atol=1e-4)


@pytest.mark.parametrize(
    "name, size, expected",
    [
        ("ResNet50", 64, "conv3_block4_out"),  # 8x8, stride 8
        ("ResNet50", 128, "conv4_block6_out"),  # 8x8, stride 16 from 128 px
        ("MobileNetV2", 64, "block_5_add"),  # not block 6's expansion at 8x8
        ("VGG16", 64, "block4_conv3"),  # a plain chain: the last map before a pool
        ("ConvNeXtTiny", 64, "Add"),  # a residual add: an operation, named add_N
        ("NASNetMobile", 64, "normal_concat_3"),  # cells read two cells back
    ],
)
def test_default_local_layer_is_the_end_of_the_stride_8_or_16_stage(
    name, size, expected
):
    layer = backbone_maps.default_local_layer(_trunk(name, size))
    assert expected in (layer.name, type(layer).__name__)
    assert layer.output.shape[1] == 8


def test_block_ends_skip_branches_inside_an_inception_module():
    ends = backbone_maps.block_ends(_trunk("InceptionV3", 75))
    # The stem is a chain; after it, only the modules' concatenated outputs.
    assert [op.name for op in ends[-3:]] == ["mixed2", "mixed7", "mixed10"]
    assert [tuple(op.output.shape[1:3]) for op in ends[-3:]] == [(7, 7), (3, 3), (1, 1)]


# One family per input mode (keras.applications module -> mode).
MODE_OF_MODULE = {
    "resnet": "caffe",
    "vgg16": "caffe",
    "resnet_v2": "tf",
    "mobilenet_v2": "tf",
    "xception": "tf",
    "densenet": "torch",
    "efficientnet": "pixels",
    "efficientnet_v2": "pixels",
    "mobilenet_v3": "pixels",
    "convnext": "pixels",
}


def test_every_keras_family_has_a_known_input_mode():
    names = backbones.keras_constructors()
    assert len(names) >= 40  # Keras 3.15 has 40.
    modes = {}
    for name in names:
        constructor = getattr(keras.applications, name)
        module = constructor.__module__.rsplit(".", 1)[1]
        modes[module] = backbone_input.input_mode(constructor)
    assert {m: modes[m] for m in MODE_OF_MODULE} == MODE_OF_MODULE


@pytest.mark.parametrize("module", ["resnet", "mobilenet_v2", "densenet", "convnext"])
def test_image_range_gives_what_preprocess_input_gives_on_0_to_255(module):
    unit = np.concatenate([-np.ones((1, 2, 2, 3)), np.ones((1, 2, 2, 3))]).astype(
        "float32"
    )
    unit = np.concatenate([unit, _images(2)])
    pixels = (unit + 1.0) * 127.5
    expected = getattr(keras.applications, module).preprocess_input(pixels.copy())
    got = backbone_input.ImageRange(MODE_OF_MODULE[module])(unit)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected, atol=1e-4)


@pytest.mark.parametrize(
    "name, module, channels",
    [
        ("VGG16", "vgg16", 3),
        ("VGG16", "vgg16", 1),
        ("MobileNetV3Small", "mobilenet_v3", 3),
    ],
)
def test_trunk_on_unit_images_equals_keras_model_on_preprocessed_pixels(
    name, module, channels
):
    trunk = _trunk(name, 32, channels)
    raw = getattr(keras.applications, name)(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    raw.set_weights(trunk.get_weights())
    x = _images(32, channels)
    rgb = np.repeat(x, 3, axis=-1) if channels == 1 else x
    preprocess = getattr(keras.applications, module).preprocess_input
    expected = raw(preprocess((rgb + 1.0) * 127.5))
    np.testing.assert_allclose(trunk(x), expected, rtol=1e-4, atol=1e-4)
    if name == "MobileNetV3Small":  # The family rescales pixels itself.
        assert isinstance(trunk.layers[2], keras.layers.Rescaling)


def test_weights_file_round_trip_and_misfit(tmp_path):
    trunk = _trunk("MobileNetV3Small", 32)
    path = str(tmp_path / "m.weights.h5")
    trunk.save_weights(path)
    again = backbones.resolve_backbone("keras:MobileNetV3Small", 32, weights=path)
    x = _images(32)
    np.testing.assert_allclose(again(x), trunk(x), atol=1e-6)
    with pytest.raises(UserError, match=r"^weights file .* does not fit keras:VGG16"):
        backbones.resolve_backbone("keras:VGG16", 32, weights=path)
    with pytest.raises(UserError, match="does not exist"):
        backbones.resolve_backbone("keras:VGG16", 32, weights=str(tmp_path / "no.h5"))


@pytest.mark.parametrize(
    "spec, size, kwargs, pattern",
    [
        ("ResNet50", 64, {}, "must start with keras: or file:"),
        ("keras:ResNet5O", 64, {}, r"did you mean ResNet50.*dir\(keras.applications\)"),
        ("keras:preprocess_input", 64, {}, "not a keras.applications vision model"),
        ("keras:resnet", 64, {}, "not a keras.applications vision model"),
        (
            "keras:ResNet50",
            64,
            {"weights": "imagenet"},
            r"does not download.*storage.googleapis.com/.*resnet/.*local path",
        ),
        ("keras:MobileNetV3Small", 16, {}, "at least 32x32 pixels"),
        ("keras:InceptionV3", 64, {}, "at least 75x75 pixels"),
        ("keras:Xception", 64, {}, "at least 71x71 pixels"),
        ("keras:VGG16", 32, {"channels": 2}, "takes 1 .* or 3 channels, got 2"),
        ("file:/no/such.keras", 32, {}, "does not exist"),
        ("keras:VGG16", 0, {}, "image_size must be a positive integer, got 0"),
        ("keras:VGG16", 32, {"dtype": "float7"}, "'float7' is not a Keras dtype"),
    ],
)
def test_bad_backbone_specs_are_one_line_user_errors(spec, size, kwargs, pattern):
    with pytest.raises(UserError, match=pattern) as error:
        backbones.resolve_backbone(spec, size, **kwargs)
    assert "\n" not in str(error.value)


def test_bad_layer_names_list_block_ends(tmp_path):
    trunk = _trunk("ResNet50", 64)
    with pytest.raises(UserError) as error:
        backbones.encoder_from_backbone(trunk, local_layer="conv3")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("backbone.local_layer 'conv3' is not a layer")
    assert "conv3_block4_out 8x8x512 (stride 8)" in message
    assert "conv5_block3_out 2x2x2048 (stride 32)" in message
    with pytest.raises(UserError, match="^backbone.conv_layer 'images' only reads"):
        backbones.encoder_from_backbone(trunk, conv_layer="images")
    with pytest.raises(UserError, match="y_dim must be a positive integer"):
        backbones.encoder_from_backbone(trunk, y_dim=0)


def _save_small_model(path, rescale=False, sequential=False):
    layers = [
        keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1"),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, name="head"),
    ]
    if rescale:
        layers.insert(0, keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescale"))
    if sequential:
        model = keras.Sequential([keras.Input((32, 32, 3)), *layers])
    else:
        inputs = x = keras.Input((None, None, 3))
        for layer in layers[:-2]:
            x = layer(x)
        model = keras.Model(inputs, x)
    model.save(path)
    return model


@pytest.mark.parametrize("rescale, sequential", [(False, False), (True, True)])
def test_file_backbone_with_a_named_local_layer(tmp_path, rescale, sequential):
    path = str(tmp_path / "small.keras")
    saved = _save_small_model(path, rescale, sequential)
    trunk = backbones.resolve_backbone(f"file:{path}", 32)
    encoder = backbones.encoder_from_backbone(trunk, local_layer="c1", y_dim=4)
    x = _images(32)
    out = _outputs(encoder, x)
    assert out["local"].shape == (2, 16, 16, 8)
    assert out["conv"].shape == (2, 8, 8, 16)
    assert out["fc"].shape == (2, 16) and out["y"].shape == (2, 4)
    # A model starting with a Rescaling takes pixels in [0, 255]; others [-1, 1].
    fed = (x + 1.0) * 127.5 if rescale else x
    c2 = keras.Model(saved.inputs[0], saved.get_layer("c2").output)
    np.testing.assert_allclose(out["conv"], c2(fed), atol=1e-5)
    if sequential:
        with pytest.raises(
            UserError, match=r"'flat' outputs \(None, 1024\), not a 4-D"
        ):
            backbones.encoder_from_backbone(trunk, local_layer="flat")


@keras.saving.register_keras_serializable(package="dim_tf_tests")
class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 3)

    def call(self, x):
        return self.conv(x)


def test_file_backbones_that_cannot_be_tapped(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_text("not a model")
    with pytest.raises(UserError, match="does not load as a Keras model"):
        backbones.resolve_backbone(f"file:{junk}", 32)
    model = _Subclassed()
    model(np.zeros((1, 32, 32, 3), "float32"))
    model.save(str(tmp_path / "sub.keras"))
    with pytest.raises(UserError, match="subclassed model; save a functional"):
        backbones.resolve_backbone(f"file:{tmp_path / 'sub.keras'}", 32)
    path = str(tmp_path / "small.keras")
    _save_small_model(path, sequential=True)
    with pytest.raises(UserError, match=r"takes images of shape \(32, 32, 3\)"):
        backbones.resolve_backbone(f"file:{path}", 64)


def test_encoder_round_trips_through_a_keras_file(tmp_path):
    encoder = backbones.encoder_from_backbone(_trunk("MobileNetV3Small", 32))
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    loaded = keras.saving.load_model(path)
    x = _images(32)
    expected, got = _outputs(encoder, x), _outputs(loaded, x)
    assert set(got) == {"local", "conv", "fc", "y"}
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_mixed_bfloat16_outputs_and_the_global_policy_kept(tmp_path):
    before = keras.mixed_precision.global_policy().name
    trunk = backbones.resolve_backbone(
        "keras:MobileNetV3Small", 32, channels=1, dtype="mixed_bfloat16"
    )
    assert keras.mixed_precision.global_policy().name == before
    out = backbones.encoder_from_backbone(trunk)(_images(32, channels=1))
    assert {k: v.dtype for k, v in out.items()} == dict.fromkeys(out, tf.bfloat16)
    path = str(tmp_path / "small.keras")
    _save_small_model(path)
    trunk = backbones.resolve_backbone(f"file:{path}", 32, dtype="mixed_bfloat16")
    out = backbones.encoder_from_backbone(trunk)(_images(32))
    assert {k: v.dtype for k, v in out.items()} == dict.fromkeys(out, tf.bfloat16)


def test_built_inside_a_mirrored_strategy(tmp_path):
    path = str(tmp_path / "small.keras")
    _save_small_model(path)
    strategy = strategies.two_replicas()
    with strategy.scope():
        encoder = backbones.encoder_from_backbone(
            backbones.resolve_backbone(f"file:{path}", 32), y_dim=4
        )
    assert isinstance(
        encoder.get_layer("y").kernel.value, tf.distribute.DistributedValues
    )
    dataset = tf.data.Dataset.from_tensor_slices(_images(32, batch=4)).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    out = strategy.run(tf.function(lambda x: encoder(x)["y"]), args=(batch,))
    assert sum(t.shape[0] for t in strategy.experimental_local_results(out)) == 4


def test_encoder_exports_as_a_saved_model_tensorflow_alone_loads(tmp_path):
    encoder = backbones.encoder_from_backbone(_trunk("VGG16", 32, 1), y_dim=8)
    module = tf.Module()
    module.encoder = encoder
    module.serve = tf.function(
        lambda images: encoder(images, training=False),
        input_signature=[tf.TensorSpec([None, 32, 32, 1], tf.float32)],
    )
    tf.saved_model.save(module, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    x = _images(32, channels=1, batch=3)
    got, expected = loaded.serve(x), _outputs(encoder, x)
    for key in ("local", "conv", "fc", "y"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5)


def test_every_trainable_variable_gets_a_gradient():
    encoder = backbones.encoder_from_backbone(_trunk("MobileNetV3Small", 32), y_dim=8)
    with tf.GradientTape() as tape:
        out = encoder(_images(32), training=True)
        loss = tf.reduce_sum(out["y"]) + tf.reduce_sum(out["local"])
    grads = tape.gradient(loss, encoder.trainable_variables)
    assert encoder.trainable_variables
    missing = [v.path for v, g in zip(encoder.trainable_variables, grads) if g is None]
    assert not missing
