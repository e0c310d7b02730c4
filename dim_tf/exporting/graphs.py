"""The portable models as graph functions: what the ONNX and LiteRT converters take."""

import tensorflow as tf

# No public API freezes a function's variables into constants; the LiteRT
# converter otherwise keeps Keras 3 variables as resource variables that its
# interpreter never initialises (tf2onnx freezes with the same function).
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)


def serving_function(model):
    """`model` (uint8 `images` in, a dict out) as a `tf.function` in inference mode.

    Args:
      model: a `keras_file` model at a fixed input size (`portable=True`),
        input shape `[None, H, W, c]`.

    Returns:
      `(function, input_signature)`: batch dimension dynamic, outputs named as
      the model's.
    """
    spec = tf.TensorSpec([None, *model.input.shape[1:]], tf.uint8, name="images")

    @tf.function(input_signature=[spec])
    def serve(images):
        return model(images, training=False)

    return serve, [spec]


def frozen_function(model):
    """`serving_function(model)` with its variables as constants (a `tf.function`).

    Wrapped in a `tf.function` of the same signature again, so that converters
    see the named outputs.
    """
    function, signature = serving_function(model)
    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)

    @tf.function(input_signature=signature)
    def serve(images):
        # The frozen function returns a flat list: the names put back.
        outputs = tf.nest.flatten(frozen(images))
        return tf.nest.pack_sequence_as(concrete.structured_outputs, outputs)

    return serve
