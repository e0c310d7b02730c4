"""The encoder and each probe exported: SavedModels, and on request other formats.

Under `DIR/export/`: `encoder/` (SavedModel; input `images` uint8
`[None, H, W, None]`; outputs `local`, `conv`, `fc`, `y`) and
`probe_{kind}_{tap}/` (outputs `probabilities` `[None, K]`, `class_ids`
`[None]`, asset `class_names.txt`), preprocessing inside, in inference mode.
`formats` adds `NAME.keras`, `NAME.onnx`, `NAME.tflite` beside each
(`dim_tf.exporting`), each checked against its SavedModel before anything is
replaced. A crash or a failed check leaves the previous export (docs/deploy.md).
"""

import os

import tensorflow as tf

from dim_tf import exporting
from dim_tf import workdir as workdir_lib
from dim_tf.evaluators import evaluation, report
from dim_tf.evaluators.probes import store
from dim_tf.exporting import keras_file, serving, writers
from dim_tf.training import runs

EXPORT_DIR = "export"
ENCODER_NAME = "encoder"
CLASS_NAMES_FILE = "class_names.txt"


def probe_name(kind, tap):
    """Directory name of a probe's SavedModel, e.g. "probe_linear_y"."""
    return f"probe_{kind}_{tap}"


class _EncoderModule(tf.Module):
    def __init__(self, encoder, transform, input_spec):
        super().__init__(name="dim_encoder")
        self.encoder = encoder

        @tf.function(input_signature=[input_spec])
        def serve(images):
            outputs = encoder(transform(images), training=False)
            return {
                name: tf.cast(outputs[name], tf.float32)
                for name in keras_file.ENCODER_OUTPUTS
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


def export_models(
    workdir,
    run,
    classifiers,
    formats=(exporting.SAVED_MODEL,),
    litert_quantize="none",
    log=None,
):
    """Writes the encoder and probe exports under `DIR/export/`.

    Args:
      workdir: the run directory.
      run: `dim_tf.training.runs.Run` (encoder, image sizes, class names).
      classifiers: `{(tap, kind): model}`, each model mapping model input
        `[B, S, S, C]` in [-1, 1] to logits `[B, K]` (a frozen probe is the
        run's encoder followed by its head, see `heads.finetune_classifier`).
      formats: names from `dim_tf.exporting.FORMATS` (the SavedModels are
        always written: the other files are checked against them).
      litert_quantize: one of `dim_tf.exporting.LITERT_QUANTIZATIONS`.
      log: callable taking a progress line (each file's check), or None.

    Returns:
      `{"encoder": {format: path}, (tap, kind): {format: path}, ...}`, paths
      relative to `workdir` ("export/encoder", "export/encoder.onnx", ...).

    Raises:
      UserError: a file differing from its SavedModel beyond its tolerance
        (`dim_tf.exporting.verify`); nothing is replaced then.
    """
    log = log or (lambda line: None)
    root = os.path.join(workdir, EXPORT_DIR)
    workdir_lib.recover(root)
    staging = workdir_lib.staging_dir(root)
    try:
        names_file = os.path.join(staging, CLASS_NAMES_FILE)
        with open(names_file, "w") as f:
            f.write("".join(f"{name}\n" for name in run.class_names))
        transform, shape = serving.serving_input(run)
        spec = tf.TensorSpec([None, *shape], tf.uint8, name="images")
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
        models = {
            key: (name, classifiers.get(key)) for key, (name, _) in staged.items()
        }
        files = writers.write_formats(
            run, models, staging, formats, litert_quantize, EXPORT_DIR, log
        )
        paths = {}
        for key, (name, _) in staged.items():
            workdir_lib.replace_dir(
                os.path.join(staging, name), os.path.join(root, name)
            )
            paths[key] = {exporting.SAVED_MODEL: f"{EXPORT_DIR}/{name}"}
            for fmt, suffix in exporting.SUFFIXES.items():
                target = os.path.join(root, name + suffix)
                if fmt in files[key]:
                    os.replace(os.path.join(staging, name + suffix), target)
                    paths[key][fmt] = f"{EXPORT_DIR}/{name}{suffix}"
                elif os.path.exists(target):
                    os.remove(target)  # Another checkpoint's: not left to mislead.
        return paths
    finally:
        workdir_lib.recover(root)


def export_run(
    workdir, formats=(exporting.SAVED_MODEL,), litert_quantize="none", log=None
):
    """Exports `workdir`'s latest checkpoint (evaluated first if needed); updates results.json.

    Args:
      workdir: run directory.
      formats: as `export_models`'s.
      litert_quantize: as `export_models`'s.
      log: callable taking a progress line, or None.

    Returns:
      The updated results dict: `encoder_export` (the SavedModel) and
      `encoder_exports` (`{format: path}`), each probe's `export` and `exports`.

    Raises:
      UserError: missing workdir, no checkpoint, a bad `eval` setting, or a
        file failing its check.
    """
    log = log or (lambda line: None)
    run = runs.load_run(workdir)
    results = report.read_results(workdir)
    classifiers = store.load(workdir, run)
    if classifiers is None or results is None or results.get("step") != run.step:
        log(f"No probes for step {run.step} yet: evaluating first")
        results = evaluation.evaluate(workdir, log=log, run=run)
        classifiers = store.load(workdir, run)
    log(f"Writing {', '.join(formats)} to {os.path.join(workdir, EXPORT_DIR)}")
    paths = export_models(workdir, run, classifiers, formats, litert_quantize, log)
    results["encoder_export"] = paths["encoder"][exporting.SAVED_MODEL]
    results["encoder_exports"] = paths["encoder"]
    if exporting.LITERT in formats:
        results["litert_quantize"] = litert_quantize
    else:
        results.pop("litert_quantize", None)
    for probe in results["probes"]:
        exported = paths.get((probe["tap"], probe["kind"]))
        probe["export"] = exported and exported[exporting.SAVED_MODEL]
        probe["exports"] = exported
    report.write_results(workdir, results)
    return results
