"""ONNX files of the portable models, converted by tf2onnx.

Input `images` uint8 `[batch, H, W, c]` (batch dynamic), outputs named as the
model's. Keras's own `Model.export(format="onnx")` calls the same converter.
"""

# ONNX opset 17: supported by onnxruntime 1.16 and later.
OPSET = 17


def save(model, path):
    """Converts `model` and writes it to `path`.

    Args:
      model: a `keras_file` model at a fixed input size (`portable=True`).
      path: the `.onnx` file.
    """
    import tf2onnx

    # tf2onnx 1.17 still uses `np.object`, gone in NumPy 2: Keras's patch.
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    from dim_tf.exporting import graphs

    patch_tf2onnx()
    # Frozen first: tf2onnx would take captured constants for inputs.
    function = graphs.frozen_function(model)
    tf2onnx.convert.from_function(
        function,
        input_signature=function.input_signature,
        opset=OPSET,
        output_path=path,
    )
