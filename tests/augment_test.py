"""Augmented training views (dim_tf/input/augment.py through the pipeline):
two views differ, are a pure function of (seed, position) and resume exactly;
every preset gives the encoder's channels."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

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
    jittered = augment.colour_jitter(pixels, tf.constant([3, 4], tf.int64), 0.5)
    assert jittered.shape == (6, 6, 1)
    assert float(tf.reduce_max(tf.abs(jittered - pixels))) > 1e-3
    assert 0.0 <= float(tf.reduce_min(jittered)) <= float(tf.reduce_max(jittered)) <= 1


# --- the encoder's channels, whatever the dataset stores -----------------------


@pytest.fixture
def mock_tfds():
    with tfds.testing.mock_data(
        num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        yield


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("preset", ["simclr", "amdim"])
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
