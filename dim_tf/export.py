"""SavedModels of the encoder and of each probe, loadable with TensorFlow alone.

Under `DIR/export/`: `encoder/` (input `images` uint8 `[None, H, W, None]`;
outputs `local`, `conv`, `fc`, `y`) and `probe_{kind}_{tap}/` (outputs
`probabilities` `[None, K]`, `class_ids` `[None]`, asset `class_names.txt`),
preprocessing inside, in inference mode. A crash while writing leaves the
previous export (docs/usage.md, Loading the SavedModels).
"""

import os

import tensorflow as tf

from dim_tf import workdir as workdir_lib
from dim_tf.evaluators import evaluation, report
from dim_tf.evaluators.probes import store
from dim_tf.input import image_files, model_input, sources
from dim_tf.training import runs

EXPORT_DIR = "export"
ENCODER_NAME = "encoder"
CLASS_NAMES_FILE = "class_names.txt"


def probe_name(kind, tap):
    """Directory name of a probe's SavedModel, e.g. "probe_linear_y"."""
    return f"probe_{kind}_{tap}"


def _input_spec(raw_image_shape):
    """`images`: uint8 `[None, H, W, None]`, any channel count (checked inside)."""
    height, width, _ = raw_image_shape
    return tf.TensorSpec([None, height, width, None], tf.uint8, name="images")


def serving_transform(run):
    """What an exported model does to its input `images` before the encoder.

    As the pipeline: channels converted, a directory's images fitted; a TFDS
    dataset's must have the stored size (a signature would resize silently).

    Args:
      run: `dim_tf.training.runs.Run`.

    Returns:
      A function: uint8 `[B, H, W, c]` (c in 1..4) -> float32 `[B, S, S, C]` in [-1, 1].
    """
    data, size, crop = run.config.data, run.image_size, run.center_crop
    directory = sources.is_directory(data.dataset)
    height, width, channels = run.raw_image_shape

    def transform(images):
        images = image_files.convert_channels(images, channels)
        if directory:
            stored = image_files.stored_size(size, data.random_crop)
            images = image_files.fit(images, stored)
        else:
            images = tf.ensure_shape(images, [None, height, width, channels])
        return model_input.raw_images_to_model_input(images, size, crop, data.channels)

    return transform


class _EncoderModule(tf.Module):
    def __init__(self, encoder, transform, input_spec):
        super().__init__(name="dim_encoder")
        self.encoder = encoder

        @tf.function(input_signature=[input_spec])
        def serve(images):
            outputs = encoder(transform(images), training=False)
            return {
                name: tf.cast(outputs[name], tf.float32)
                for name in ("local", "conv", "fc", "y")
            }

        self.serve = serve


class _ProbeModule(tf.Module):
    def __init__(self, classifier, transform, input_spec, class_names_file):
        super().__init__(name="dim_probe")
        self.classifier = classifier
        self.class_names = tf.saved_model.Asset(class_names_file)

        @tf.function(input_signature=[input_spec])
        def serve(images):
            logits = tf.cast(classifier(transform(images), training=False), tf.float32)
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
        run's encoder followed by its head, see `heads.finetune_classifier`).

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
        transform, spec = serving_transform(run), _input_spec(run.raw_image_shape)
        staged = {
            "encoder": (ENCODER_NAME, _EncoderModule(run.encoder, transform, spec))
        }
        for (tap, kind), classifier in classifiers.items():
            staged[(tap, kind)] = (
                probe_name(kind, tap),
                _ProbeModule(classifier, transform, spec, names_file),
            )
        for name, module in staged.values():
            _save(module, os.path.join(staging, name))
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
    """Exports `workdir`'s latest checkpoint (evaluated first if needed); updates results.json.

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
    classifiers = store.load(workdir, run)
    if classifiers is None or results is None or results.get("step") != run.step:
        log(f"No probes for step {run.step} yet: evaluating first")
        results = evaluation.evaluate(workdir, log=log, run=run)
        classifiers = store.load(workdir, run)
    log(f"Writing SavedModels to {os.path.join(workdir, EXPORT_DIR)}")
    paths = export_models(workdir, run, classifiers)
    results["encoder_export"] = paths["encoder"]
    for probe in results["probes"]:
        probe["export"] = paths.get((probe["tap"], probe["kind"]))
    report.write_results(workdir, results)
    return results
