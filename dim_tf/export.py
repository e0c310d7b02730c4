"""SavedModels of the encoder and of each probe, loadable with TensorFlow alone.

Layout under `DIR/export/`:

- `encoder/`: signature `serving_default`, input `images` (uint8
  `[None, H, W, C]`, the images as the dataset stores them), outputs
  `local`, `conv`, `fc`, `y` (float32);
- `probe_{kind}_{tap}/` for each probe: input `images` (uint8), outputs
  `probabilities` (float32 `[None, K]`) and `class_ids` (int64 `[None]`);
  `assets/class_names.txt` holds the class names, line i naming class i.
  kNN and SVM rows have no model: their `export` in results.json stays null.

Preprocessing (`dim_tf.input.pipeline.raw_images_to_model_input`: resize or center-crop
to the encoder's size, scale to [-1, 1]) is part of each graph, so callers
pass raw images. Models run in inference mode (BatchNorm moving statistics,
no dropout).

An export is built completely in a staging directory inside `DIR/export/`
and then moved into place model by model (`dim_tf.workdir`), so a crash while
writing leaves the previous export as it was.
"""

import os

import tensorflow as tf

from dim_tf import workdir as workdir_lib
from dim_tf.evaluators import evaluation, probe_store, report
from dim_tf.input import pipeline
from dim_tf.training import runs

EXPORT_DIR = "export"
ENCODER_NAME = "encoder"
CLASS_NAMES_FILE = "class_names.txt"


def probe_name(kind, tap):
    """Directory name of a probe's SavedModel, e.g. "probe_linear_y"."""
    return f"probe_{kind}_{tap}"


def _input_spec(raw_image_shape):
    height, width, channels = raw_image_shape
    return tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")


def _model_input(images, raw_image_shape, image_size, center_crop):
    # A signature checks the dtype only; without this, an image of another
    # size would be resized silently and give an answer instead of an error.
    images = tf.ensure_shape(images, _input_spec(raw_image_shape).shape)
    return pipeline.raw_images_to_model_input(images, image_size, center_crop)


class _EncoderModule(tf.Module):
    def __init__(self, encoder, raw_image_shape, image_size, center_crop):
        super().__init__(name="dim_encoder")
        self.encoder = encoder

        @tf.function(input_signature=[_input_spec(raw_image_shape)])
        def serve(images):
            x = _model_input(images, raw_image_shape, image_size, center_crop)
            outputs = encoder(x, training=False)
            return {
                name: tf.cast(outputs[name], tf.float32)
                for name in ("local", "conv", "fc", "y")
            }

        self.serve = serve


class _ProbeModule(tf.Module):
    def __init__(
        self, classifier, raw_image_shape, image_size, center_crop, class_names_file
    ):
        super().__init__(name="dim_probe")
        self.classifier = classifier
        self.class_names = tf.saved_model.Asset(class_names_file)

        @tf.function(input_signature=[_input_spec(raw_image_shape)])
        def serve(images):
            x = _model_input(images, raw_image_shape, image_size, center_crop)
            logits = tf.cast(classifier(x, training=False), tf.float32)
            return {
                "probabilities": tf.nn.softmax(logits, axis=-1),
                "class_ids": tf.argmax(logits, axis=-1),
            }

        self.serve = serve


def _save(module, path):
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})


def export_models(workdir, run, classifiers):
    """Writes the encoder and probe SavedModels under `DIR/export/`.

    Args:
      workdir: the run directory.
      run: `dim_tf.training.runs.Run` (encoder, image sizes, class names).
      classifiers: `{(tap, kind): model}`, each model mapping model input
        `[B, S, S, C]` in [-1, 1] to logits `[B, K]` (a frozen probe is the
        run's encoder followed by its head, see `probes.finetune_classifier`).

    Returns:
      `{"encoder": "export/encoder", (tap, kind): "export/probe_kind_tap", ...}`,
      paths relative to `workdir`.
    """
    root = os.path.join(workdir, EXPORT_DIR)
    workdir_lib.recover(root)
    staging = workdir_lib.staging_dir(root)
    try:
        names_file = os.path.join(staging, CLASS_NAMES_FILE)
        with open(names_file, "w") as f:
            f.write("".join(f"{name}\n" for name in run.class_names))
        shape, size, crop = run.raw_image_shape, run.image_size, run.center_crop
        staged = {
            "encoder": (
                ENCODER_NAME,
                _EncoderModule(run.encoder, shape, size, crop),
            )
        }
        for (tap, kind), classifier in classifiers.items():
            staged[(tap, kind)] = (
                probe_name(kind, tap),
                _ProbeModule(classifier, shape, size, crop, names_file),
            )
        for name, module in staged.values():
            _save(module, os.path.join(staging, name))
        # Everything is on disk: only renames from here on.
        paths = {}
        for key, (name, _) in staged.items():
            workdir_lib.replace_dir(
                os.path.join(staging, name), os.path.join(root, name)
            )
            paths[key] = f"{EXPORT_DIR}/{name}"
        return paths
    finally:
        workdir_lib.recover(root)


def export_run(workdir, log=None):
    """Exports the run in `workdir` at its latest checkpoint; updates results.json.

    Uses the probes `bin/evaluate` saved for that checkpoint; when there are
    none (not evaluated yet, or trained further since), evaluates first.

    Args:
      workdir: run directory.
      log: callable taking a progress line, or None.

    Returns:
      The updated results dict (with `encoder_export` and each probe's `export`).

    Raises:
      UserError: missing workdir, no checkpoint, or a bad `eval` setting.
    """
    log = log or (lambda line: None)
    run = runs.load_run(workdir)
    results = report.read_results(workdir)
    classifiers = probe_store.load(workdir, run)
    if classifiers is None or results is None or results.get("step") != run.step:
        log(f"No probes for step {run.step} yet: evaluating first")
        results = evaluation.evaluate(workdir, log=log, run=run)
        classifiers = probe_store.load(workdir, run)
    log(f"Writing SavedModels to {os.path.join(workdir, EXPORT_DIR)}")
    paths = export_models(workdir, run, classifiers)
    results["encoder_export"] = paths["encoder"]
    for probe in results["probes"]:
        probe["export"] = paths.get((probe["tap"], probe["kind"]))
    report.write_results(workdir, results)
    return results
