"""Augmented training views (dim_tf/input/augment.py through the pipeline):
two views differ, are a pure function of (seed, position) and resume exactly;
every preset gives the encoder's channels; AMDIM's shared flip and
reflect-padded translation."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf import input as input_names
from dim_tf.config import check_config
from dim_tf.input import augment, pipeline
from dim_tf.training import loop
from tests.tiny import tiny_config


def _stream(config, start_step=0):
    return pipeline.make_train_dataset(
        config.data,
        28,
        config.train.batch_size,
        start_step,
        seed=config.train.seed,
        augment_config=config.augment,
        views=config.objective.views,
    )


def _batches(config, count, start_step=0):
    return list(_stream(config, start_step).take(count).as_numpy_iterator())


@pytest.mark.parametrize("preset", ["simclr", "amdim"])
def test_two_views_differ_and_resume_exactly(data_dir, preset):
    config = tiny_config(
        **{
            "data.data_dir": data_dir,
            "objective.views": 2,
            "augment.preset": preset,
        }
    )
    first = _batches(config, 3)
    assert first[0].shape == (8, 2, 28, 28, 1) and first[0].dtype == np.float32
    assert first[0].min() >= -1.0 and first[0].max() <= 1.0
    # The two views of each image differ (crops, jitter), and so do batches.
    for batch in first:
        assert all(np.abs(image[0] - image[1]).mean() > 1e-3 for image in batch)
    again = _batches(config, 3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # A run resumed at step 2 sees the same views as an unbroken one.
    np.testing.assert_array_equal(_batches(config, 1, start_step=2)[0], first[2])
    config.train.seed = 1
    assert not np.array_equal(_batches(config, 1)[0], first[0])


def test_one_view_with_a_preset_augments_it(data_dir):
    plain = tiny_config(**{"data.data_dir": data_dir})
    jittered = tiny_config(**{"data.data_dir": data_dir, "augment.preset": "simclr"})
    a, b = _batches(plain, 1)[0], _batches(jittered, 1)[0]
    assert a.shape == b.shape == (8, 28, 28, 1)
    assert np.abs(a - b).mean() > 1e-3


def test_flip_crop_preset_is_the_data_flags(data_dir):
    flags = tiny_config(
        **{
            "data.data_dir": data_dir,
            "data.random_crop": True,
            "data.random_flip": True,
        }
    )
    preset = tiny_config(**{"data.data_dir": data_dir, "augment.preset": "flip_crop"})
    # Same crops and flips; the preset's path rescales through [0, 1].
    np.testing.assert_allclose(_batches(preset, 2)[1], _batches(flags, 2)[1], atol=1e-6)


def test_one_channel_jitter_changes_brightness_and_contrast_only():
    pixels = tf.random.stateless_uniform((6, 6, 1), (1, 2))
    jittered = augment.colour_jitter(pixels, tf.constant([3, 4], tf.int64), 0.5, 0.1)
    assert jittered.shape == (6, 6, 1)
    assert float(tf.reduce_max(tf.abs(jittered - pixels))) > 1e-3
    assert 0.0 <= float(tf.reduce_min(jittered)) <= float(tf.reduce_max(jittered)) <= 1


# --- channels, shared flips, translations (AMDIM's transforms) ----------------


@pytest.fixture
def mock_tfds():
    with tfds.testing.mock_data(
        num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        yield


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("preset", ["simclr", "amdim", "amdim_cifar10"])
@pytest.mark.parametrize("dataset, channels", [("cifar10", 1), ("mnist", 3)])
def test_every_preset_yields_the_encoders_channels(
    mock_tfds, dataset, channels, preset, views
):
    """RGB stored, grey wanted and the other way: views have `data.channels`."""
    config = tiny_config(
        **{
            "data.dataset": dataset,
            "data.channels": channels,
            "objective.views": views,
            "augment.preset": preset,
        }
    )
    stream = _stream(config)
    shape = (8, *([views] if views > 1 else []), 28, 28, channels)
    assert tuple(stream.element_spec.shape) == shape
    (batch,) = list(stream.take(1).as_numpy_iterator())
    assert batch.shape == shape


def test_an_rgb_dataset_trains_grey_views(mock_tfds, tmp_path):
    """The first training step of amdim views, RGB stored, `data.channels=1`."""
    config = tiny_config(
        **{
            "data.dataset": "cifar10",
            "data.channels": 1,
            "objective.views": 2,
            "objective.estimator": "nce",
            "augment.preset": "amdim",
            "train.steps": 2,
        }
    )
    result = loop.train(config, str(tmp_path / "run"))
    assert result.step == 2 and np.isfinite(result.metrics["loss"])


def _flip_only(data_dir, shared_flip):
    """Two views through the `amdim` preset with nothing random but its flip:
    crops of the whole image, no colour jitter, no grayscale."""
    return tiny_config(
        **{
            "data.data_dir": data_dir,
            "objective.views": 2,
            "augment.preset": "amdim",
            "augment.crop_scale_min": 1.0,
            "augment.jitter": 0.0,
            "augment.grayscale_probability": 0.0,
            "augment.shared_flip": shared_flip,
        }
    )


def test_a_shared_flip_gives_both_views_one_orientation(data_dir):
    def same_pairs(shared_flip):
        config = _flip_only(data_dir, shared_flip)
        check_config(config)  # A config users can run.
        pairs = np.concatenate(_batches(config, 8))  # [64, 2, 28, 28, 1]
        return np.mean([np.array_equal(a, b) for a, b in pairs])

    # AMDIM flips each image once: its two views are the same image here.
    assert same_pairs(True) == 1.0
    # Independent draws (SimCLR's): the views agree about half the time (no
    # digit is mirror-symmetric at the pixel level).
    assert 0.3 < same_pairs(False) < 0.7


def _amdim_translate(image, dx, dy):
    """AMDIM's RandomTranslateWithReflect on a NumPy `[H, W, C]` image, step by
    step as amdim-public datasets.py pastes flipped copies with PIL."""
    height, width = image.shape[:2]
    xpad, ypad = abs(dx), abs(dy)
    canvas = np.zeros((height + 2 * ypad, width + 2 * xpad, image.shape[2]))

    def paste(part, x, y):  # PIL's paste: the part outside the canvas is cut.
        top, left = max(y, 0), max(x, 0)
        bottom = min(y + height, canvas.shape[0])
        right = min(x + width, canvas.shape[1])
        if bottom > top and right > left:
            canvas[top:bottom, left:right] = part[
                top - y : bottom - y, left - x : right - x
            ]

    flipped_lr, flipped_tb = image[:, ::-1], image[::-1]
    flipped_both = image[::-1, ::-1]
    paste(image, xpad, ypad)
    paste(flipped_lr, xpad + width - 1, ypad)
    paste(flipped_lr, xpad - width + 1, ypad)
    paste(flipped_tb, xpad, ypad + height - 1)
    paste(flipped_tb, xpad, ypad - height + 1)
    for x in (xpad - width + 1, xpad + width - 1):
        for y in (ypad - height + 1, ypad + height - 1):
            paste(flipped_both, x, y)
    return canvas[ypad - dy : ypad - dy + height, xpad - dx : xpad - dx + width]


def test_translation_is_amdims_reflected_shift_uniform_over_shifts():
    n, size = 2, 6
    image = np.arange(size * size * 2, dtype=np.float32).reshape(size, size, 2)
    shifts = {
        (dx, dy): _amdim_translate(image, dx, dy)
        for dx in range(-n, n + 1)
        for dy in range(-n, n + 1)
    }
    assert len({v.tobytes() for v in shifts.values()}) == (2 * n + 1) ** 2
    counts = dict.fromkeys(shifts, 0)
    for s in range(500):
        out = augment.random_translate(tf.constant(image), tf.constant([s, 7]), n)
        assert out.shape == image.shape
        (match,) = [k for k, v in shifts.items() if np.array_equal(out.numpy(), v)]
        counts[match] += 1
    # Every shift in [-n, n]^2, each about 500 / 25 = 20 times.
    assert min(counts.values()) >= 8 and max(counts.values()) <= 35


def test_translation_applies_with_its_probability():
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (8, 8, 3)), tf.uint8)
    augmentation = input_names.Augmentation(translate=3, translate_probability=0.8)

    def to_model_input(pixels):
        return tf.cast(pixels, tf.float32) / 127.5 - 1.0

    original = to_model_input(image).numpy()
    unchanged = 0
    for s in range(400):
        view = augment.make_views(
            image, tf.constant([s, 3], tf.int64), 8, augmentation, 1, to_model_input
        )
        assert view.shape == (8, 8, 3)
        unchanged += np.allclose(view.numpy(), original, atol=1e-6)
    # Kept with p 0.2, or translated by (0, 0): 0.2 + 0.8 / 49 = 0.22.
    assert 0.15 < unchanged / 400 < 0.29


def test_hue_jitter_reaches_its_own_bound():
    """AMDIM's ColorJitter(0.4, 0.4, 0.4, 0.2): hue shifts up to 0.2, not 0.2 s."""
    pixels = tf.image.hsv_to_rgb(tf.fill((2, 2, 3), 0.0) + [0.5, 1.0, 1.0])
    shifts = []
    for s in range(200):
        out = augment.colour_jitter(pixels, tf.constant([s, 1], tf.int64), 1e-4, 0.2)
        shifts.append(float(tf.image.rgb_to_hsv(out)[0, 0, 0]) - 0.5)
    assert 0.17 < max(np.abs(shifts)) <= 0.2 + 1e-3
