"""A folder of the user's own images through bin/train, bin/evaluate and
bin/export, then the exported encoder embedding a JPEG of another size in
plain TensorFlow."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from dim_tf.input import eval_sets
from dim_tf.training import runs
from tests import image_folders, processes, tiny

pytestmark = pytest.mark.slow

FLAGS = [
    "--config=configs/folder_example.py",
    # The example's photo settings (random crops and flips, channels 3) with
    # the tiny model and batch (`tests.tiny.TINY`, on the user's folder).
    *(
        f"--config.{field}={value}"
        for field, value in tiny.TINY.items()
        if field != "data.dataset"
    ),
    "--config.train.steps=2",
    "--config.train.steps_per_call=1",
    "--config.eval.taps=y",
    "--config.eval.epochs=2",
    "--config.eval.mi.mine_steps=5",
    "--config.eval.mi.ndm_steps=5",
    "--config.eval.mi.examples=40",
    "--config.eval.views.projector_examples=20",
    "--config.eval.few_labels=0",
    "--config.eval.random_baseline=False",
]


def test_train_evaluate_export_a_folder_then_embed_a_jpeg(tmp_path):
    folder = str(tmp_path / "my_images")
    written = image_folders.labeled_folder(folder, train=80, test=40)
    workdir = str(tmp_path / "run")

    trained = processes.run_python(
        "bin/train", *FLAGS, f"--config.data.dataset={folder}", f"--workdir={workdir}"
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Trained to step 2." in trained.stdout

    evaluated = processes.run_python(
        "bin/evaluate", f"--workdir={workdir}", "--kinds=linear,mlp"
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert f"on {folder} 'test'" in evaluated.stdout
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    assert results["class_names"] == [str(c) for c in range(10)]
    assert [(p["kind"], p["tap"]) for p in results["probes"]] == [
        ("linear", "y"),
        ("mlp", "y"),
    ]
    assert results["num_test_examples"] == len(written["test"])

    exported = processes.run_python("bin/export", f"--workdir={workdir}")
    assert exported.returncode == 0, exported.stderr[-3000:]

    # Any size goes in: a grey digit as an RGB JPEG of 50 x 37.
    jpeg, image = image_folders.other_size_jpeg(tmp_path / "new.jpg")
    encoder = tf.saved_model.load(os.path.join(workdir, "export/encoder"))
    y = encoder.signatures["serving_default"](images=image[None])["y"].numpy()
    probe = tf.saved_model.load(os.path.join(workdir, "export/probe_mlp_y"))
    classes = probe.signatures["serving_default"](images=image[None])["class_ids"]
    assert 0 <= int(classes[0]) < 10
    with open(probe.class_names.asset_path.numpy().decode()) as f:
        assert f.read().splitlines() == results["class_names"]

    # The SavedModel fits the image exactly as the pipeline fits the file.
    run = runs.load_run(workdir)
    data = run.config.data
    assert data.random_crop  # Centre crops in evaluation and export alike.
    images, paths = next(
        iter(eval_sets.make_files_dataset([jpeg], data, run.image_size, 1))
    )
    assert paths.numpy().tolist() == [jpeg.encode()]
    expected = run.encoder(images, training=False)["y"].numpy()
    assert y.shape == (1, 8)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
