"""Tests for dim_tf.models.encoders: tap shapes, architecture, dtypes, errors, gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf import models
from dim_tf.errors import UserError
from dim_tf.models import encoders, folding
from tests import strategies

# name -> (local, conv, fc) shapes without the batch dimension (docs/architectures.md).
TAPS = {
    "basic28x28": ((7, 7, 128), (7, 7, 128), (1024,)),
    "basic32x32": ((8, 8, 128), (4, 4, 256), (1024,)),
    "basic64x64": ((8, 8, 256), (4, 4, 512), (1024,)),
    "alex64x64": ((15, 15, 384), (7, 7, 192), (4096,)),
    "resnet32x32": ((8, 8, 512), (4, 4, 1024), (1024,)),
    "resnet64x64": ((8, 8, 512), (4, 4, 1024), (1024,)),
    "folded_basic32x32": ((7, 7, 256), (7, 7, 256), (1024,)),
    "folded_basic64x64": ((7, 7, 512), (7, 7, 512), (1024,)),
    "folded_alex64x64": ((7, 7, 192), (7, 7, 192), (4096,)),
    "folded_resnet32x32": ((7, 7, 1024), (7, 7, 1024), (1024,)),
    "folded_resnet64x64": ((7, 7, 1024), (7, 7, 1024), (1024,)),
}
NEW_ENCODERS = tuple(name for name in TAPS if name.startswith(("resnet", "folded")))

# Parameters for 3-channel images and y_dim=64 (BatchNorm moving statistics
# included). basic32x32 by hand: convs 4*4*(3*64 + 64*128 + 128*256), fc
# 4*4*256*1024, BatchNorms 4*(64+128+256+1024), Y 1024*64 + 64.
PARAMS_RGB = {
    "basic28x28": 6_702_592,
    "basic32x32": 4_924_224,
    "basic64x64": 11_217_728,
    "alex64x64": 58_435_040,
    # Stem 3*3*3*64; the blocks (downsampling shortcuts included) 3,224,832;
    # fc 4*4*1024*1024; BatchNorms 4 * 24,256 channels; Y 1024*64 + 64.
    "resnet32x32": 20_297_728,
    "resnet64x64": 20_297_728,  # The same layers; only a max-pool is added.
    # The trunk (without its fc), head conv 3*3*C*384, fc 3*3*384*D_fc.
    "folded_basic32x32": 5_155_136,
    "folded_basic64x64": 8_139_072,
    "folded_alex64x64": 17_927_136,
    "folded_resnet32x32": 10_599_936,
    "folded_resnet64x64": 10_599_936,
}


def _images(name, channels, batch=2, seed=0):
    size = encoders.encoder_input_size(name)
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, size, size, channels)).astype("float32")


def test_names_and_input_sizes():
    assert encoders.ENCODERS == tuple(TAPS)
    sizes = {name: encoders.encoder_input_size(name) for name in encoders.ENCODERS}
    assert sizes == {name: int(name[-2:]) for name in TAPS}


@pytest.mark.parametrize(
    "name,channels,y_dim",
    [
        ("basic28x28", 1, 64),
        ("basic28x28", 3, 16),
        ("basic32x32", 3, 64),
        ("basic32x32", 1, 10),
        ("basic64x64", 3, 64),
        ("basic64x64", 2, 32),
        ("alex64x64", 3, 64),
        ("alex64x64", 1, 8),
        *[(name, 3, 64) for name in NEW_ENCODERS],
        *[(name, 1, 8) for name in NEW_ENCODERS],
    ],
)
def test_tap_shapes(name, channels, y_dim):
    size = encoders.encoder_input_size(name)
    model = encoders.build_encoder(name, (size, size, channels), y_dim=y_dim)
    assert isinstance(model, keras.Model)
    assert model.name == name
    out = model(_images(name, channels), training=False)
    blocks = [f"conv{i}" for i in range(1, models.ENCODER_CONV_BLOCKS[name] + 1)]
    assert set(out) == {"local", "conv", "fc", "y", *blocks}
    if blocks:  # Folded encoders have no block maps: their local map is per crop.
        # Each block's map (for multi-scale MI); "local" and "conv" are two of them.
        np.testing.assert_array_equal(out[blocks[-1]], out["conv"])
        assert any(
            out[block].shape == out["local"].shape
            and np.array_equal(out[block], out["local"])
            for block in blocks
        )
    local, conv, fc = TAPS[name]
    assert tuple(out["local"].shape) == (2, *local)
    assert tuple(out["conv"].shape) == (2, *conv)
    assert tuple(out["fc"].shape) == (2, *fc)
    assert tuple(out["y"].shape) == (2, y_dim)
    for value in out.values():
        assert value.dtype == tf.float32
    if channels == 3 and y_dim == 64:
        assert model.count_params() == PARAMS_RGB[name]


def test_architecture_layers():
    """Explicit zero padding + 'valid' convs without bias, BN then ReLU, linear Y."""
    model = encoders.build_encoder("basic32x32", (32, 32, 3), sync_batch_norm=True)
    layers = model.layers
    kinds = [type(layer).__name__ for layer in layers]
    block = ["ZeroPadding2D", "Conv2D", "BatchNormalization", "ReLU"]
    assert kinds == [
        "InputLayer",
        *block * 3,
        "Flatten",
        *["Dense", "BatchNormalization", "ReLU"],
        "Dense",
    ]
    for layer in layers:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            assert layer.padding == ((1, 1), (1, 1))
        if isinstance(layer, keras.layers.Conv2D):
            assert layer.padding == "valid"
            assert layer.kernel_size == (4, 4) and layer.strides == (2, 2)
            assert not layer.use_bias
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.synchronized
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    assert not dense[0].use_bias
    assert dense[-1].use_bias and dense[-1].activation is keras.activations.linear


def test_alex_pools_after_relu():
    model = encoders.build_encoder("alex64x64", (64, 64, 3))
    kinds = [type(layer).__name__ for layer in model.layers]
    pools = [i for i, kind in enumerate(kinds) if kind == "MaxPooling2D"]
    assert len(pools) == 3
    for i in pools:
        assert kinds[i - 1] == "ReLU"
        assert model.layers[i].pool_size == (3, 3)
        assert model.layers[i].strides == (2, 2)
        assert model.layers[i].padding == "valid"
    batch_norms = [
        layer for layer in model.layers if "BatchNorm" in type(layer).__name__
    ]
    assert len(batch_norms) == 7 and not any(bn.synchronized for bn in batch_norms)


@pytest.mark.parametrize(
    "policy,compute", [("mixed_bfloat16", tf.bfloat16), ("mixed_float16", tf.float16)]
)
def test_mixed_precision(policy, compute):
    model = encoders.build_encoder("basic28x28", (28, 28, 1), dtype=policy)
    assert keras.config.dtype_policy().name == "float32"  # global untouched
    out = model(_images("basic28x28", 1), training=True)
    for value in out.values():
        assert value.dtype == compute
    for variable in model.weights:
        assert variable.dtype == "float32"
    for layer in model.layers[1:]:
        assert layer.dtype_policy.name == policy


def test_float32_policy_explicit():
    model = encoders.build_encoder("basic28x28", (28, 28, 1), dtype="float32")
    out = model(_images("basic28x28", 1), training=False)
    assert all(value.dtype == tf.float32 for value in out.values())


def test_unknown_name():
    # Users meet the `encoder` config check first.
    with pytest.raises(ValueError) as info:
        encoders.build_encoder("resnet", (32, 32, 3))
    message = str(info.value)
    assert "\n" not in message and "resnet" in message
    for name in encoders.ENCODERS:
        assert name in message
    with pytest.raises(ValueError):
        encoders.encoder_input_size("resnet")


def test_wrong_image_size_names_the_fitting_encoder():
    with pytest.raises(UserError) as info:
        encoders.build_encoder("basic32x32", (28, 28, 1))
    message = str(info.value)
    assert "\n" not in message
    assert "encoder basic32x32 takes 32x32 images, got 28x28x1" in message
    assert "basic28x28" in message


@pytest.mark.parametrize(
    "shape", [(30, 30, 3), (32, 28, 3), (64, 64, 3), (32, 32), (32, 32, 0)]
)
def test_bad_image_shapes(shape):
    with pytest.raises(UserError) as info:
        encoders.build_encoder("basic32x32", shape)
    assert "\n" not in str(info.value)
    assert "basic32x32" in str(info.value)


def test_bad_y_dim():
    with pytest.raises(ValueError) as info:
        encoders.build_encoder("basic28x28", (28, 28, 1), y_dim=0)
    assert "\n" not in str(info.value)


# The other new encoders are made of the same parts (a ResNet's stem pool is
# in resnet64x64's crops, folding over a plain trunk in folded_basic32x32).
@pytest.mark.parametrize(
    "name",
    [
        "basic28x28",
        "basic32x32",
        "basic64x64",
        "alex64x64",
        "resnet32x32",
        "folded_basic32x32",
        "folded_resnet64x64",
    ],
)
def test_gradients_reach_every_weight(name):
    size = encoders.encoder_input_size(name)
    model = encoders.build_encoder(name, (size, size, 2), y_dim=8)
    images = tf.constant(_images(name, 2, batch=4))
    rng = np.random.default_rng(1)
    with tf.GradientTape() as tape:
        out = model(images, training=True)
        # Random projections: a plain sum of BatchNorm'd features has zero
        # gradient with respect to everything before the BatchNorm.
        loss = tf.add_n(
            [
                tf.reduce_sum(v * rng.normal(size=v.shape).astype("float32"))
                for v in out.values()
            ]
        )
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, variable.path
        assert float(tf.reduce_max(tf.abs(grad))) > 0, variable.path


def test_sync_batch_norm_uses_global_batch_statistics():
    """Two replicas with synchronized BatchNorm match one device on the full batch."""
    strategy = strategies.two_replicas()
    with strategy.scope():
        model = encoders.build_encoder("basic28x28", (28, 28, 1), sync_batch_norm=True)
    images = tf.constant(_images("basic28x28", 1, batch=4, seed=3))
    # Different halves have different statistics, so unsynchronised BatchNorm
    # would give different outputs.
    images = tf.concat([images[:2], images[2:] * 0.3 + 0.5], axis=0)
    expected = model(images, training=True)

    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: images[2 * ctx.replica_id_in_sync_group :][:2]
    )

    @tf.function
    def step(x):
        return strategy.run(lambda x: model(x, training=True), args=(x,))

    out = step(shards)
    for key in ("local", "fc", "y"):
        got = tf.concat(strategy.experimental_local_results(out[key]), axis=0)
        np.testing.assert_allclose(got, expected[key], rtol=1e-4, atol=1e-4)


def test_resnet_blocks_are_post_activation_bottlenecks():
    model = encoders.build_encoder("resnet32x32", (32, 32, 3))
    names = [layer.name for layer in model.layers]
    # The first block of each width changes the shape: a 1x1 shortcut, strided
    # like the block's 3x3 convolution; the others add their input unchanged.
    shortcuts = [n for n in names if n.endswith("_shortcut")]
    assert shortcuts == ["block1_1_shortcut", "block2_1_shortcut", "block4_1_shortcut"]
    assert [model.get_layer(n).strides for n in shortcuts] == [(1, 1), (2, 2), (2, 2)]
    assert model.get_layer("block2_1_conv2").strides == (2, 2)
    assert model.get_layer("block1_1_conv3").kernel.shape == (1, 1, 64, 256)
    # Add, then ReLU: the block's output is after the sum.
    for block in ("block1_2", "block3_1", "block5_1"):
        assert names.index(f"{block}_relu") == names.index(f"{block}_add") + 1
    assert "stem_pool" not in names
    assert "stem_pool" in [
        layer.name
        for layer in encoders.build_encoder("resnet64x64", (64, 64, 1)).layers
    ]


def test_extract_crops_are_the_windows_in_grid_order():
    grid = folding.crop_grid(32)
    assert (grid.crop, grid.stride, grid.grid) == (8, 4, 7)
    assert folding.crop_grid(64) == folding.CropGrid(16, 8, 7)
    images = np.arange(2 * 32 * 32 * 3, dtype="float32").reshape(2, 32, 32, 3)
    crops = folding.ExtractCrops(8, 4)(images).numpy()
    assert crops.shape == (2 * 49, 8, 8, 3)
    for b, r, c in [(0, 0, 0), (0, 2, 5), (1, 6, 6), (1, 3, 0)]:
        window = images[b, 4 * r : 4 * r + 8, 4 * c : 4 * c + 8]
        np.testing.assert_array_equal(crops[(b * 7 + r) * 7 + c], window)
    vectors = np.arange(2 * 49 * 5, dtype="float32").reshape(2 * 49, 1, 1, 5)
    folded = folding.FoldCrops(7)(vectors).numpy()
    np.testing.assert_array_equal(folded[1, 3, 0], vectors[(1 * 7 + 3) * 7 + 0, 0, 0])


@pytest.mark.parametrize("name", ["folded_basic32x32", "folded_resnet64x64"])
def test_folded_local_vector_is_the_trunk_on_that_crop(name):
    """local[b, r, c] = the trunk run alone on image b's crop at grid (r, c)."""
    size = encoders.encoder_input_size(name)
    model = encoders.build_encoder(name, (size, size, 2), y_dim=4)
    images = _images(name, 2)
    local = model(images, training=False)["local"].numpy()
    trunk = keras.Model(model.get_layer("crops").output, model.get_layer("fold").input)
    crop, stride = size // 4, size // 8
    for b, r, c in [(0, 0, 0), (1, 4, 2), (0, 6, 6)]:
        window = images[b : b + 1, r * stride :][:, :crop, c * stride :][:, :, :crop]
        alone = trunk(window, training=False).numpy()  # [1, 1, 1, F]
        np.testing.assert_allclose(local[b, r, c], alone[0, 0, 0], rtol=1e-4, atol=1e-5)
