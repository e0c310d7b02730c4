"""One exported file of the encoder or of a probe, by format."""

from dim_tf.exporting import KERAS, LITERT, ONNX, keras_file


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
