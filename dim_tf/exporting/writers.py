"""The exported files of the encoder and the probes, by format, each checked when written."""

import os

from dim_tf.exporting import (
    KERAS,
    LITERT,
    ONNX,
    SAVED_MODEL,
    SUFFIXES,
    keras_file,
    runtimes,
    verify,
)


def write(fmt, run, classifier, path, litert_quantize="none"):
    """Writes the run's encoder (`classifier` None) or a probe to `path` as `fmt`.

    Args:
      fmt: `KERAS` (the SavedModel's input: any size and channel count it
        takes), `ONNX` or `LITERT` (the dataset's stored size and channels).
      run: `dim_tf.training.runs.Run`.
      classifier: a probe (model input -> logits), or None for the encoder.
      path: the file to write.
      litert_quantize: `LITERT`'s quantisation.
    """
    portable = fmt != KERAS
    if classifier is None:
        model = keras_file.encoder_model(run, portable)
    else:
        model = keras_file.probe_model(run, classifier, portable)
    if fmt == KERAS:
        model.save(path)
    elif fmt == ONNX:
        from dim_tf.exporting import onnx_file

        onnx_file.save(model, path)
    elif fmt == LITERT:
        from dim_tf.exporting import litert_file

        litert_file.save(model, path, litert_quantize)


def write_formats(run, models, directory, formats, litert_quantize, label_dir, log):
    """Writes each model in each of `formats` beside its SavedModel, and checks it.

    Args:
      run: `dim_tf.training.runs.Run`.
      models: `{key: (name, classifier)}`: the SavedModel `directory/name` of
        each, and its probe (None for the encoder).
      directory: where the SavedModels are and the files go (`NAME.keras`, ...).
      formats: names from `FORMATS`; the SavedModel's is already written.
      litert_quantize: `LITERT`'s quantisation.
      label_dir: the directory the progress lines and errors name the files in.
      log: callable taking each file's check line.

    Returns:
      `{key: {format: file name}}` of the files written.

    Raises:
      UserError: a file beyond its tolerance (`verify.check`).
    """
    written = {key: {} for key in models}
    others = [fmt for fmt in formats if fmt != SAVED_MODEL]
    if not others:
        return written
    images = verify.check_images(run)
    for key, (name, classifier) in models.items():
        saved = os.path.join(directory, name)
        reference = runtimes.open_file(SAVED_MODEL, saved)(images)
        for fmt in others:
            file_name = name + SUFFIXES[fmt]
            path = os.path.join(directory, file_name)
            write(fmt, run, classifier, path, litert_quantize)
            outputs = runtimes.open_file(fmt, path)(images)
            label = f"{label_dir}/{file_name}"
            log(verify.check(label, fmt, reference, outputs, litert_quantize))
            written[key][fmt] = file_name
    return written
