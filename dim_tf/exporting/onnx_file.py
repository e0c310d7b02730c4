"""ONNX files of the portable models, converted by tf2onnx.

Input `images` uint8 `[batch, H, W, c]` (`batch` a named dynamic dimension),
outputs named as the model's. Keras's own `Model.export(format="onnx")`
calls the same converter on the TensorFlow backend.
"""

import warnings

# The ONNX operator set the files use.
OPSET = 17


def save(model, path):
    """Converts `model` and writes it to `path`.

    Args:
      model: a `keras_file` model at a fixed input size (`portable=True`).
      path: the `.onnx` file.
    """
    import onnx
    import tf2onnx

    # tf2onnx 1.17 still uses `np.object`, gone in NumPy 2: Keras's patch.
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    from dim_tf.exporting import graphs

    with warnings.catch_warnings():
        # The patch's own `hasattr(np, "object")` warns on NumPy 2.
        warnings.simplefilter("ignore", FutureWarning)
        patch_tf2onnx()
    # Frozen first: tf2onnx would take captured constants for inputs.
    function = graphs.frozen_function(model)
    proto, _ = tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=OPSET
    )
    # The dynamic first dimension is named "batch" (tf2onnx names it unk__N).
    for value in [*proto.graph.input, *proto.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(proto, path)
