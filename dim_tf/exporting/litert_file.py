"""LiteRT (`.tflite`) files of the portable models, optionally quantised.

Built-in operators only, so the `ai_edge_litert` interpreter alone runs them.
The signature `serving_default` takes `images` and returns the model's outputs.
"""

import tempfile

import tensorflow as tf

from dim_tf.exporting import graphs


def save(model, path, quantize="none"):
    """Converts `model` and writes it to `path`.

    Args:
      model: a `keras_file` model at a fixed input size (`portable=True`).
      path: the `.tflite` file.
      quantize: "none" (float32), "float16" (float16 weights) or
        "dynamic_int8" (int8 weights, activations quantised at run time).
    """
    module = tf.Module()
    module.serve = graphs.frozen_function(model)
    # Through a SavedModel: the converter keeps its signature (names) then.
    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(module, saved, signatures={"serving_default": module.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        flatbuffer = converter.convert()
    with open(path, "wb") as f:
        f.write(flatbuffer)
