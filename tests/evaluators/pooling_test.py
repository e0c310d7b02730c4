"""`eval.max_tap_features`: large map taps and kept images are pooled when stored."""

import numpy as np
import pytest
import tensorflow as tf

from dim_tf.config import default_config
from dim_tf.evaluators import features, pooling, settings
from dim_tf.models import encoders

# The conv taps (H, W, C) of the encoders the configs and the paper use.
PAPER_CONV_TAPS = {
    "basic28x28": (7, 7, 128),
    "basic32x32": (4, 4, 256),
    "basic64x64": (4, 4, 512),
    "alex64x64": (7, 7, 192),
    "resnet32x32": (4, 4, 1024),
    "resnet64x64": (4, 4, 1024),
}


def _bound(encoder, max_tap_features=None):
    config = default_config()
    config.encoder = encoder
    config.eval.max_tap_features = max_tap_features
    return settings.tap_features_bound(config)


def test_the_default_leaves_the_paper_encoders_whole_and_bounds_backbones():
    for name in encoders.ENCODERS:  # The folded ones' 7x7x1024 included.
        assert _bound(name) == 0, name
    bound = _bound("keras:ResNet50")
    assert bound == _bound("file:/tmp/model.keras") == 16_384
    for name, shape in PAPER_CONV_TAPS.items():
        size = encoders.encoder_input_size(name)
        model = encoders.build_encoder(name, (size, size, 3), y_dim=8)
        assert tuple(model.output["conv"].shape[1:]) == shape
        # Within the backbones' bound too.
        assert pooling.map_side(shape, bound) is None, name
        assert pooling.image_side((size, size, 3), bound) is None
    # A 224-pixel ResNet50's last map and image.
    assert pooling.map_side((7, 7, 2048), bound) == 2
    assert pooling.image_side((224, 224, 3), bound) == 56


def test_a_set_bound_applies_to_every_encoder():
    assert _bound("folded_basic64x64", 8192) == _bound("keras:ResNet50", 8192) == 8192
    assert _bound("keras:ResNet50", 0) == 0


def test_sides():
    assert pooling.map_side((7, 7, 2048), 8192) == 2
    assert pooling.map_side((7, 7, 2048), 0) is None  # No bound.
    assert pooling.map_side((7, 7, 4096), 100) == 1  # Never below 1 x 1.
    assert pooling.map_side((4096,), 100) is None  # Not a map.
    assert pooling.map_side((1, 1, 4096), 100) is None  # Already 1 x 1.
    assert pooling.image_side((28, 28, 1), 500) == 14
    assert pooling.image_side((28, 28, 1), 784) is None


def test_pooling_averages_adaptive_bins():
    maps = np.random.default_rng(0).normal(size=(2, 7, 7, 3)).astype(np.float32)
    pooled = pooling.pool(maps, 2).numpy()
    # 7 -> 2: rows and columns 0..3 and 3..6, as PyTorch's AdaptiveAvgPool2d.
    bins = (slice(0, 4), slice(3, 7))
    expected = np.array(
        [
            [[maps[b, r, c].mean(axis=(0, 1)) for c in bins] for r in bins]
            for b in (0, 1)
        ]
    )
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooling.pool(maps, 7).numpy(), maps, rtol=1e-6)


@pytest.fixture(scope="module")
def encoder_and_data():
    encoder = encoders.build_encoder("basic28x28", (28, 28, 1), y_dim=8)
    images = np.random.default_rng(1).uniform(-1, 1, (12, 28, 28, 1))
    labels = np.arange(12) % 3
    dataset = tf.data.Dataset.from_tensor_slices(
        (images.astype(np.float32), labels.astype(np.int32))
    ).batch(5)
    return encoder, dataset


def test_stored_features_have_the_pooled_shape(encoder_and_data):
    encoder, dataset = encoder_and_data
    taps = ("conv", "fc", "y")
    whole = features.extract_features(encoder, dataset, taps, keep_images=4)
    capped = features.extract_features(
        encoder, dataset, taps, keep_images=4, max_features=600
    )
    # conv 7x7x128 -> 2x2x128; fc (1024 > 600) is no map: kept whole.
    assert capped.taps["conv"].shape == (12, 2 * 2 * 128)
    assert capped.pooled == {
        "conv": ((7, 7, 128), (2, 2, 128)),
        "images": ((28, 28, 1), (14, 14, 1)),
    }
    maps = encoder(next(iter(dataset))[0], training=False)["conv"]
    np.testing.assert_allclose(
        capped.taps["conv"][:5],
        pooling.pool(maps, 2).numpy().reshape(5, -1),
        rtol=1e-5,
        atol=1e-6,
    )
    for tap in ("fc", "y"):
        np.testing.assert_array_equal(capped.taps[tap], whole.taps[tap])
    assert capped.images.shape == (4, 14, 14, 1)
    # Within the bound: the very same features as without one.
    within = features.extract_features(
        encoder, dataset, taps, keep_images=4, max_features=16_384
    )
    assert within.pooled == {} and whole.pooled == {}
    for tap in taps:
        np.testing.assert_array_equal(within.taps[tap], whole.taps[tap])
    np.testing.assert_array_equal(within.images, whole.images)
