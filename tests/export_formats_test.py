"""bin/export --formats: .keras, ONNX and LiteRT files run in fresh processes
with their own runtime only and agree with the SavedModels; bad formats and
missing packages are one line before any work; a failed check keeps the
previous export."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf import export, exporting
from dim_tf.errors import UserError
from dim_tf.evaluators import evaluation
from dim_tf.exporting import verify
from dim_tf.training import loop, runs
from tests import processes
from tests.tiny import tiny_eval_config

pytestmark = pytest.mark.slow

# Runs each file given with one runtime: `onnx` imports onnxruntime alone,
# `litert` the LiteRT interpreter alone, `keras` Keras and dim_tf's layers.
RUNNER = r"""
import json, sys
import numpy as np

runtime, images, out = sys.argv[1], np.load(sys.argv[2])["images"], sys.argv[3]
outputs = {}
for index, path in enumerate(sys.argv[4:]):
    if runtime == "onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(path)
        names = [output.name for output in session.get_outputs()]
        result = dict(zip(names, session.run(names, {"images": images})))
    elif runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter
        result = Interpreter(model_path=path).get_signature_runner()(images=images)
    else:
        import keras
        import dim_tf.exporting.serving  # registers dim_tf's layers
        result = keras.saving.load_model(path)(images)
    outputs.update({f"{index}-{name}": np.asarray(v) for name, v in result.items()})
np.savez(out, **outputs)
print(json.dumps({"tensorflow_imported": "tensorflow" in sys.modules}))
"""


@pytest.fixture(scope="module")
def exported(data_dir, tmp_path_factory):
    """A tiny run trained, evaluated (a linear probe on y) and exported in every format."""
    workdir = str(tmp_path_factory.mktemp("run"))
    config = tiny_eval_config(
        data_dir, **{"train.steps": 2, "eval.kinds": "linear", "eval.taps": "y"}
    )
    loop.train(config, workdir)
    evaluation.evaluate(workdir)
    lines = []
    results = export.export_run(
        workdir, formats=exporting.parse_formats("all"), log=lines.append
    )
    split = tfds.builder("digits", data_dir=data_dir).as_dataset(
        split="test[:16]", shuffle_files=False
    )
    images = np.stack([e["image"] for e in split.as_numpy_iterator()])
    return workdir, results, lines, images


def _saved_model_outputs(workdir, path, images):
    serve = tf.saved_model.load(os.path.join(workdir, path)).signatures[
        "serving_default"
    ]
    return {name: value.numpy() for name, value in serve(images=images).items()}


def test_every_format_is_recorded_and_checked_when_written(exported):
    workdir, results, lines, _ = exported
    with open(os.path.join(workdir, "results.json")) as f:
        assert json.load(f) == results
    assert results["encoder_export"] == "export/encoder"
    assert results["encoder_exports"] == {
        "saved_model": "export/encoder",
        "keras": "export/encoder.keras",
        "onnx": "export/encoder.onnx",
        "litert": "export/encoder.tflite",
    }
    (probe,) = results["probes"]
    assert probe["export"] == "export/probe_linear_y"
    assert probe["exports"]["litert"] == "export/probe_linear_y.tflite"
    assert results["litert_quantize"] == "none"
    for path in [*results["encoder_exports"].values(), *probe["exports"].values()]:
        assert os.path.exists(os.path.join(workdir, path))
    checks = [line for line in lines if "max difference" in line]
    assert len(checks) == 6
    assert all("(tolerance 0.001)" in line for line in checks)
    assert all("classes agree on 100%" in line for line in checks if "probe" in line)


@pytest.mark.parametrize("runtime", ["onnx", "litert", "keras"])
def test_each_file_runs_with_its_runtime_alone_and_agrees_with_the_savedmodel(
    exported, runtime, tmp_path
):
    workdir, results, _, images = exported
    fmt = runtime
    (probe,) = results["probes"]
    exports = [results["encoder_exports"], probe["exports"]]
    arrays, out = tmp_path / "images.npz", tmp_path / "out.npz"
    np.savez(arrays, images=images)
    files = [os.path.join(workdir, e[fmt]) for e in exports]
    ran = processes.run_python("-c", RUNNER, runtime, str(arrays), str(out), *files)
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    # Keras runs on the TensorFlow backend; the others need no TensorFlow.
    assert report["tensorflow_imported"] is (runtime == "keras")
    got = np.load(out)
    allowed = verify.tolerance(fmt)
    for index, paths in enumerate(exports):
        expected = _saved_model_outputs(workdir, paths["saved_model"], images)
        assert {k.split("-", 1)[1] for k in got if k.startswith(f"{index}-")} == set(
            expected
        )
        for name, value in expected.items():
            mine = got[f"{index}-{name}"]
            assert mine.shape == value.shape
            if name == "class_ids":
                np.testing.assert_array_equal(mine, value)
            else:
                scale = max(1.0, float(np.abs(value).max()))
                assert float(np.abs(mine - value).max()) <= allowed * scale, name
    assert got["0-y"].shape == (16, 8) and got["1-probabilities"].shape == (16, 10)


def test_formats_are_parsed_and_an_unknown_one_is_one_line(tmp_path):
    assert exporting.parse_formats("all") == exporting.FORMATS
    assert exporting.parse_formats("litert,keras") == ("saved_model", "keras", "litert")
    with pytest.raises(UserError, match="allowed: a comma-separated list of"):
        exporting.parse_formats("onnx,tflite")
    # bin/export refuses it (and a quantisation without LiteRT) before
    # TensorFlow starts.
    without_tensorflow = processes.without_tensorflow(tmp_path)
    result = processes.run(
        [sys.executable, "bin/export", f"--workdir={tmp_path}", "--formats=pdf"],
        PYTHONPATH=without_tensorflow,
    )
    processes.assert_one_line_error(
        result, "unknown format pdf", "saved_model, keras, onnx, litert, or all"
    )
    result = processes.run(
        [sys.executable, "bin/export", f"--workdir={tmp_path}", "--formats=onnx"]
        + ["--litert_quantize=float16"],
        PYTHONPATH=without_tensorflow,
    )
    processes.assert_one_line_error(result, "add litert to --formats")


def test_a_missing_package_names_the_install_before_any_work(exported, tmp_path):
    workdir = exported[0]
    before = {
        name: os.path.getmtime(os.path.join(workdir, "export", name))
        for name in os.listdir(os.path.join(workdir, "export"))
    }
    # The lookup of which package provides a format, pointed at a missing one.
    code = (
        "import sys\n"
        "from dim_tf import exporting\n"
        "exporting._PACKAGES['litert'] = {'no_such_litert': 'ai-edge-litert'}\n"
        "from dim_tf.cli import export\n"
        f"sys.argv = ['bin/export', '--workdir={workdir}', '--formats=keras,litert']\n"
        "export.main()\n"
    )
    result = processes.run(
        [sys.executable, "-c", code], PYTHONPATH=processes.without_tensorflow(tmp_path)
    )
    processes.assert_one_line_error(
        result, "needs ai-edge-litert", "pip install 'dim_tf[export]'"
    )
    after = {
        name: os.path.getmtime(os.path.join(workdir, "export", name))
        for name in os.listdir(os.path.join(workdir, "export"))
    }
    assert after == before


def test_a_file_beyond_its_tolerance_fails_the_export_and_keeps_the_previous_one(
    exported, monkeypatch
):
    workdir = exported[0]
    root = os.path.join(workdir, "export")
    before = {
        name: os.path.getmtime(os.path.join(root, name)) for name in os.listdir(root)
    }
    # Below any difference, 0 included.
    monkeypatch.setitem(verify.TOLERANCES, exporting.KERAS, -1.0)
    monkeypatch.setattr(verify, "check_images", lambda run: exported[3][:2])
    run = runs.load_run(workdir)
    with pytest.raises(UserError, match=r"encoder.keras: max difference .* too far"):
        export.export_models(workdir, run, {}, ("saved_model", "keras"))
    after = {
        name: os.path.getmtime(os.path.join(root, name)) for name in os.listdir(root)
    }
    assert after == before


def test_an_export_without_a_format_removes_that_formats_older_files(exported):
    workdir = exported[0]
    run = runs.load_run(workdir)
    paths = export.export_models(workdir, run, {}, ("saved_model", "keras"))
    assert paths == {
        "encoder": {"saved_model": "export/encoder", "keras": "export/encoder.keras"}
    }
    names = set(os.listdir(os.path.join(workdir, "export")))
    assert {"encoder", "encoder.keras"} <= names
    assert not names & {"encoder.onnx", "encoder.tflite"}
