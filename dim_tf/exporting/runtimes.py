"""An exported file opened with its own runtime, as a function of uint8 images."""

import numpy as np

from dim_tf.exporting import KERAS, ONNX, SAVED_MODEL


def open_file(fmt, path):
    """Loads `path` (a file, or a SavedModel directory) with `fmt`'s runtime.

    SavedModel: TensorFlow; `.keras`: Keras with dim_tf's layers; `.onnx`:
    onnxruntime; `.tflite`: the `ai_edge_litert` interpreter.

    Returns:
      A function: uint8 `[n, H, W, c]` NumPy images -> `{output name: array}`.
    """
    if fmt == SAVED_MODEL:
        import tensorflow as tf

        serve = tf.saved_model.load(path).signatures["serving_default"]
        return lambda images: {
            name: value.numpy() for name, value in serve(images=images).items()
        }
    if fmt == KERAS:
        import keras

        from dim_tf.exporting import serving  # noqa: F401 (registers its layers)

        model = keras.saving.load_model(path)
        # A compiled call: calling the model itself runs it op by op.
        return lambda images: {
            name: np.asarray(value)
            for name, value in model.predict_on_batch(images).items()
        }
    if fmt == ONNX:
        import onnxruntime

        session = onnxruntime.InferenceSession(path)
        names = [output.name for output in session.get_outputs()]
        return lambda images: dict(zip(names, session.run(names, {"images": images})))
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner()
    return lambda images: runner(images=images)
