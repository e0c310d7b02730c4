"""Backbone encoders from the command line: bad input as one line with nothing
written, and keras:/file: runs trained, evaluated and exported to SavedModels
that embed stored digits or a JPEG of another size in plain TensorFlow."""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf.config import check_config
from dim_tf.evaluators import evaluation
from dim_tf.export import export_run
from dim_tf.input import eval_sets, model_input
from dim_tf.training import loop, runs
from tests import image_folders, processes, tiny

pytestmark = pytest.mark.slow

MOBILENET = "--config.encoder=keras:MobileNetV3Small"
EVAL_FLAGS = [f"--config.{field}={value}" for field, value in tiny.TINY_EVAL.items()]


def _save_model(path, channels, flatten=False):
    """A small functional model: convs c1 (stride 2), c2 (stride 4)[, flat]."""
    inputs = keras.Input((None, None, channels))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2")(x)
    if flatten:
        x = keras.layers.Flatten(name="flat")(x)
    keras.Model(inputs, x).save(path)
    return path


def test_an_unknown_keras_name_is_refused_before_tensorflow_is_imported(tmp_path):
    result = processes.run(
        [
            sys.executable,
            "bin/train",
            "--config=configs/quickstart.py",
            f"--workdir={tmp_path / 'run'}",
            "--config.encoder=keras:ResNt50",
        ],
        PYTHONPATH=processes.without_tensorflow(tmp_path),
    )
    assert "tensorflow imported" not in result.stderr, result.stderr[-3000:]
    processes.assert_one_line_error(result, "keras:ResNt50", "did you mean ResNet50")
    assert not (tmp_path / "run").exists()


# Each backbone that cannot be built: its overrides (WEIGHTS, JUNK and FLAT are
# files `_bad_backbone_overrides` writes) and the fragments of the one-line error.
BAD_BACKBONES = {
    "layer": (
        {"encoder": "keras:MobileNetV3Small", "backbone.local_layer": "conv3"},
        ["backbone.local_layer 'conv3' is not a layer of", "8x8x24 (stride 8)"],
    ),
    "size": (
        {"encoder": "keras:MobileNetV3Small", "image_size": 16},
        [
            "keras:MobileNetV3Small takes images of at least 32x32",
            "got image_size 16",
        ],
    ),
    "weights": (
        {"encoder": "keras:MobileNetV3Small", "backbone.weights": "WEIGHTS"},
        ["weights file", "does not fit keras:MobileNetV3Small"],
    ),
    "junk_file": ({"encoder": "file:JUNK"}, ["does not load as a Keras model"]),
    "not_4d": (
        {"encoder": "file:FLAT", "backbone.local_layer": "flat"},
        [
            "backbone.local_layer 'flat' outputs (None, 4096), not a 4-D map",
            "c2 16x16x16",
        ],
    ),
}


def _bad_backbone_overrides(tmp_path, name):
    """`BAD_BACKBONES[name]`'s overrides with its files written into `tmp_path`."""
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"not weights")
    junk = tmp_path / "junk.keras"
    junk.write_text("not a model")
    flat = _save_model(str(tmp_path / "flat.keras"), channels=1, flatten=True)
    overrides, fragments = BAD_BACKBONES[name]
    files = {"WEIGHTS": str(weights), "JUNK": str(junk), "FLAT": flat}
    for placeholder, path in files.items():
        overrides = {
            field: value.replace(placeholder, path) if isinstance(value, str) else value
            for field, value in overrides.items()
        }
    return overrides, fragments


def test_a_backbone_that_cannot_be_built_is_one_line_from_bin_train(data_dir, tmp_path):
    # One real process: exit status 2, one line, no traceback, nothing written.
    overrides, fragments = _bad_backbone_overrides(tmp_path, "layer")
    flags = [f"--config.{field}={value}" for field, value in overrides.items()]
    workdir = tmp_path / "run"
    result = processes.run(processes.train_args(str(workdir), data_dir, *flags))
    processes.assert_one_line_error(result, *fragments)
    assert not workdir.exists()


@pytest.mark.parametrize("name", sorted(set(BAD_BACKBONES) - {"layer"}))
def test_a_backbone_that_cannot_be_built_is_one_line_with_nothing_written(
    data_dir, tmp_path, name
):
    # What bin/train runs (the `UserError` it prints as its one line), in-process.
    overrides, fragments = _bad_backbone_overrides(tmp_path, name)
    config = tiny.quickstart_config(data_dir, strategy="one_device", **overrides)
    workdir = str(tmp_path / "run")

    def train():
        check_config(config)
        loop.train(config, workdir)

    processes.assert_user_error(train, *fragments)
    assert not os.path.exists(workdir)


def test_keras_backbone_trains_from_bin_then_evaluates_and_exports(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    trained = processes.run_python(
        *processes.train_args(workdir, data_dir)[1:],
        MOBILENET,
        "--config.image_size=64",
        "--config.data.channels=3",
        "--config.train.steps=30",
        "--config.train.log_every=10",
        *EVAL_FLAGS,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Trained to step 30." in trained.stdout
    # What bin/evaluate and bin/export run, in-process (their processes' exit
    # statuses and output: tests/evaluators/evaluate_cli_test.py).
    evaluation.evaluate(workdir, kinds="linear,knn")
    with open(os.path.join(workdir, "results.json")) as f:
        probes = json.load(f)["probes"]
    assert {(p["kind"], p["tap"]) for p in probes} >= {("linear", "y"), ("knn", "y")}
    # Ten classes: chance is 0.1. Only conv learns in two tiny probe epochs;
    # kNN is left out: after 30 steps the BatchNorm moving variances still
    # hold 0.9 ** 30 of their initial 1.
    (conv,) = [p for p in probes if (p["kind"], p["tap"]) == ("linear", "conv")]
    assert conv["test_accuracy"] > 0.3, probes
    assert export_run(workdir)["encoder_export"] == "export/encoder"

    # The digits as the dataset stores them: uint8 8x8 grey.
    stored = next(
        iter(tfds.load("digits", split="test[:3]", data_dir=data_dir, batch_size=3))
    )["image"]
    assert stored.dtype == tf.uint8 and tuple(stored.shape) == (3, 8, 8, 1)
    encoder = tf.saved_model.load(os.path.join(workdir, "export/encoder"))
    got = encoder.signatures["serving_default"](images=stored)
    assert tuple(got["local"].shape) == (3, 8, 8, 24)
    assert tuple(got["y"].shape) == (3, 8)
    run = runs.load_run(workdir)
    images = model_input.raw_images_to_model_input(stored, 64, False, 3)
    expected = run.encoder(images, training=False)
    for tap in ("local", "conv", "fc", "y"):
        np.testing.assert_allclose(got[tap], expected[tap], rtol=1e-4, atol=1e-4)


def test_file_backbone_on_a_folder_exports_an_encoder_taking_any_jpeg(tmp_path):
    folder = str(tmp_path / "images")
    image_folders.labeled_folder(folder, train=60, test=30)
    path = _save_model(str(tmp_path / "mine.keras"), channels=3)
    workdir = str(tmp_path / "run")
    config = tiny.tiny_config(
        **{
            "data.dataset": folder,
            "data.channels": 3,
            "encoder": f"file:{path}",
            "image_size": 32,
            "backbone.local_layer": "relu",
            "eval.kinds": "linear",
            "eval.taps": "y",
            "eval.epochs": 2,
            # MINE and NDM at test size (nothing here reads them).
            "eval.mi.mine_steps": tiny.TINY_EVAL["eval.mi.mine_steps"],
            "eval.mi.ndm_steps": tiny.TINY_EVAL["eval.mi.ndm_steps"],
        }
    )
    loop.train(config, workdir)
    results = export_run(workdir)
    assert results["encoder_export"] == "export/encoder"

    jpeg, image = image_folders.other_size_jpeg(tmp_path / "new.jpg")
    encoder = tf.saved_model.load(os.path.join(workdir, "export/encoder"))
    got = encoder.signatures["serving_default"](images=image[None])
    assert tuple(got["local"].shape) == (1, 16, 16, 8)  # "relu", stride 2
    assert tuple(got["conv"].shape) == (1, 8, 8, 16)
    run = runs.load_run(workdir)
    images, _ = next(
        iter(eval_sets.make_files_dataset([jpeg], run.config.data, run.image_size, 1))
    )
    expected = run.encoder(images, training=False)["y"].numpy()
    np.testing.assert_allclose(got["y"], expected, rtol=1e-4, atol=1e-4)
