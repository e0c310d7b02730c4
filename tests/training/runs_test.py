"""`dim_tf.training.runs.Run`: the encoders a loaded run hands out."""

import keras
import numpy as np
import pytest

from dim_tf.models import backbones
from dim_tf.training import runs
from tests.tiny import tiny_config


def _run(encoder, **overrides):
    """A `Run` of a 32x32 grey `encoder` with no trainer behind it."""
    config = tiny_config(encoder=encoder, image_size=32, **overrides)
    return runs.Run(
        workdir=None,
        config=config,
        step=0,
        checkpoint=None,
        trainer=None,
        encoder=None,
        image_size=32,
        raw_image_shape=None,
        class_names=[],
        channels=1,
        eval_train_split=None,
        eval_split=None,
    )


def _file_backbone(path):
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2")(x)
    model = keras.Model(inputs, x)
    model.save(path)
    return _kernels(model)


def _keras_weights(path):
    trunk = backbones.resolve_backbone("keras:MobileNetV3Small", 32, channels=1)
    trunk.save_weights(path)
    return _kernels(trunk)


def _kernels(model):
    """Convolution layer name -> its kernel."""
    return {
        layer.name: layer.get_weights()[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    }


@pytest.mark.parametrize("kind", ["file", "keras"])
def test_the_random_baseline_has_none_of_the_backbones_saved_weights(tmp_path, kind):
    if kind == "file":
        path = str(tmp_path / "small.keras")
        saved = _file_backbone(path)
        run = _run(f"file:{path}", **{"backbone.local_layer": "c1"})
    else:
        path = str(tmp_path / "mobilenet.weights.h5")
        saved = _keras_weights(path)
        run = _run("keras:MobileNetV3Small", **{"backbone.weights": path})
    fresh = run.fresh_encoder()
    assert saved
    for name, kernel in saved.items():
        fresh_kernel = fresh.get_layer(name).get_weights()[0]
        assert fresh_kernel.shape == kernel.shape
        assert not np.allclose(fresh_kernel, kernel), name
    # The trained encoder's copy keeps the weights it is given.
    run.encoder = fresh
    copy = run.encoder_copy()
    for got, expected in zip(copy.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
