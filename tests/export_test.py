"""SavedModels: loaded in a separate process that imports TensorFlow only (not
dim_tf) and checked against results.json; atomic replacement; export_run."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf import export
from dim_tf.evaluators import evaluation
from dim_tf.evaluators.probes import store
from dim_tf.input import model_input
from dim_tf.training import loop, runs
from tests import processes
from tests.tiny import tiny_eval_config

pytestmark = pytest.mark.slow

# Runs in a fresh interpreter with TensorFlow, Keras and NumPy only.
LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
import keras

workdir, arrays = sys.argv[1], np.load(sys.argv[2])
images, labels = arrays["images"], arrays["labels"]
with open(f"{workdir}/results.json") as f:
    results = json.load(f)
report = {"probes": {}}

encoder = tf.saved_model.load(f"{workdir}/{results['encoder_export']}")
outputs = encoder.signatures["serving_default"](images=tf.constant(images[:5]))
report["encoder"] = {name: value.shape.as_list() for name, value in outputs.items()}
# The same grey images as RGB and RGBA, which the models convert back.
rgb = np.repeat(images, 3, axis=-1)
rgba = np.concatenate([rgb, np.full_like(images, 255)], axis=-1)
report["encoder_y_other_channels_equal"] = [
    bool(np.allclose(
        encoder.signatures["serving_default"](images=tf.constant(other[:5]))["y"],
        outputs["y"], atol=1e-6,
    ))
    for other in (rgb, rgba)
]

for probe in results["probes"]:
    if probe["export"] is None:  # kNN: no model
        continue
    path = f"{workdir}/{probe['export']}"
    model = tf.saved_model.load(path)
    serve = model.signatures["serving_default"]
    out = serve(images=tf.constant(images))
    probabilities, class_ids = out["probabilities"].numpy(), out["class_ids"].numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (class_ids == probabilities.argmax(axis=1)).all()
    mapped = tf.data.Dataset.from_tensor_slices(images).batch(16).map(
        lambda batch: serve(images=batch)["class_ids"]
    )
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    with open(model.class_names.asset_path.numpy().decode()) as f:
        names = f.read().splitlines()
    report["probes"][probe["export"]] = {
        "accuracy": float(np.mean(class_ids == labels)),
        "dataset_map_equal": bool(
            (np.concatenate(list(mapped.as_numpy_iterator())) == class_ids).all()
        ),
        "keras_layer_equal": bool(
            (layer(images)["class_ids"].numpy() == class_ids).all()
        ),
        "rgb_equal": bool(np.allclose(
            serve(images=tf.constant(rgb))["probabilities"], probabilities, atol=1e-6
        )),
        "class_names": names,
        "probabilities_shape": list(probabilities.shape),
    }

errors = {}
for name, bad in [
    ("dtype", tf.constant(images, tf.float32)),
    ("shape", tf.zeros([2, images.shape[1] + 1, images.shape[2], 1], tf.uint8)),
    ("channels", tf.zeros([2, images.shape[1], images.shape[2], 5], tf.uint8)),
]:
    try:
        serve(images=bad)
        errors[name] = None
    except (TypeError, ValueError, tf.errors.InvalidArgumentError) as err:
        errors[name] = f"{type(err).__name__}: {err}"
report["errors"] = errors
report["dim_tf_imported"] = any(m.startswith("dim_tf") for m in sys.modules)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def exported(data_dir, tmp_path_factory):
    """A tiny run trained, evaluated and exported."""
    workdir = str(tmp_path_factory.mktemp("run"))
    # A frozen and a fine-tuned kind, on a conv map and a vector tap, and
    # kNN, which has no model to export.
    config = tiny_eval_config(
        data_dir, **{"eval.kinds": "linear,finetune,knn", "eval.taps": "conv,y"}
    )
    loop.train(config, workdir)
    evaluation.evaluate(workdir)
    lines = []
    results = export.export_run(workdir, log=lines.append)
    assert not any("evaluating first" in line for line in lines)
    return workdir, results


def test_export_records_every_path_in_results(exported):
    workdir, results = exported
    with open(os.path.join(workdir, "results.json")) as f:
        assert json.load(f) == results
    assert results["encoder_export"] == "export/encoder"
    exported = [p for p in results["probes"] if p["kind"] != "knn"]
    assert len(exported) == 4
    for probe in exported:
        assert probe["export"] == f"export/probe_{probe['kind']}_{probe['tap']}"
        assert os.path.exists(os.path.join(workdir, probe["export"], "saved_model.pb"))
    assert [p["export"] for p in results["probes"] if p["kind"] == "knn"] == [None] * 2
    assert sorted(os.listdir(os.path.join(workdir, "export"))) == sorted(
        ["encoder"] + [os.path.basename(p["export"]) for p in exported]
    )


def test_savedmodels_load_with_tensorflow_alone_and_agree_with_results(
    exported, data_dir, tmp_path
):
    workdir = exported[0]
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    # The raw test images exactly as the dataset stores them (uint8 8x8x1).
    split = tfds.builder("digits", data_dir=data_dir).as_dataset(
        split=results["split"], shuffle_files=False
    )
    examples = list(split.as_numpy_iterator())
    arrays = tmp_path / "test_split.npz"
    np.savez(
        arrays,
        images=np.stack([e["image"] for e in examples]),
        labels=np.array([e["label"] for e in examples]),
    )
    loaded = processes.run_python("-c", LOADER, workdir, str(arrays))
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    report = json.loads(loaded.stdout.strip().splitlines()[-1])

    assert report["dim_tf_imported"] is False
    assert report["encoder_y_other_channels_equal"] == [True, True]
    assert report["encoder"] == {
        "local": [5, 7, 7, 128],
        "conv": [5, 7, 7, 128],
        "fc": [5, 1024],
        "y": [5, 8],
    }
    for probe in (p for p in results["probes"] if p["export"]):
        seen = report["probes"][probe["export"]]
        assert seen["accuracy"] == pytest.approx(probe["test_accuracy"], abs=1e-9)
        assert seen["dataset_map_equal"] and seen["keras_layer_equal"]
        assert seen["rgb_equal"]
        assert seen["class_names"] == results["class_names"]
        assert seen["probabilities_shape"] == [len(examples), 10]
    assert "uint8" in report["errors"]["dtype"]
    assert "is not compatible with expected shape" in report["errors"]["shape"]
    assert report["errors"]["channels"].startswith("InvalidArgumentError")
    assert (
        "images must have 1 (grey), 2 (grey and alpha), 3 (RGB) or 4 (RGBA) "
        "channels; they have] [5]"
    ) in report["errors"]["channels"]


def test_a_crash_mid_export_leaves_the_previous_export_intact(
    exported, monkeypatch, tmp_path
):
    workdir = exported[0]
    root = os.path.join(workdir, "export")
    before = {
        name: sorted(os.listdir(os.path.join(root, name))) for name in os.listdir(root)
    }
    with open(os.path.join(root, "encoder", "saved_model.pb"), "rb") as f:
        encoder_bytes = f.read()
    real_save = export._save
    saved = []

    def crash_on_third(module, path):
        if len(saved) == 2:
            raise OSError("disk full")
        saved.append(path)
        real_save(module, path)

    monkeypatch.setattr(export, "_save", crash_on_third)
    run = runs.load_run(workdir)
    classifiers = store.load(workdir, run)
    with pytest.raises(OSError, match="disk full"):
        export.export_models(workdir, run, classifiers)
    after = {
        name: sorted(os.listdir(os.path.join(root, name))) for name in os.listdir(root)
    }
    assert after == before  # no staging directory left, nothing replaced
    with open(os.path.join(root, "encoder", "saved_model.pb"), "rb") as f:
        assert f.read() == encoder_bytes
    assert tf.saved_model.load(os.path.join(root, "encoder")).signatures


def test_export_run_evaluates_first_when_the_probes_are_missing(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    kinds = {"eval.kinds": "linear,decoder", "eval.taps": "y"}
    config = tiny_eval_config(data_dir, **{"train.steps": 2, **kinds})
    loop.train(config, workdir)
    lines = []
    results = export.export_run(workdir, log=lines.append)
    assert any("evaluating first" in line for line in lines)
    # The decoder has no classifier: its row stays without an export.
    assert [p["export"] for p in results["probes"]] == ["export/probe_linear_y", None]
    assert results["step"] == 2


def test_a_folded_encoder_trains_restores_and_exports(data_dir, tmp_path):
    """The crops run inside the SavedModel exactly as in the trained encoder."""
    workdir = str(tmp_path / "folded")
    config = tiny_eval_config(
        data_dir,
        **{"encoder": "folded_basic32x32", "train.steps": 2, "critic.score_clip": 5.0},
    )
    loop.train(config, workdir)
    run = runs.load_run(workdir)
    paths = export.export_models(workdir, run, {})
    assert paths == {"encoder": {"saved_model": "export/encoder"}}
    loaded = tf.saved_model.load(os.path.join(workdir, "export", "encoder"))
    images = np.random.default_rng(0).integers(0, 17, (3, 8, 8, 1), dtype=np.uint8)
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))
    shapes = {name: value.shape.as_list() for name, value in outputs.items()}
    assert shapes == {
        "local": [3, 7, 7, 256],
        "conv": [3, 7, 7, 256],
        "fc": [3, 1024],
        "y": [3, 8],
    }
    inputs = model_input.raw_images_to_model_input(images, 32, run.center_crop)
    expected = run.encoder(inputs, training=False)
    for name in ("local", "y"):
        np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-4, atol=1e-5)
