"""Keras models of the encoder and the probes: uint8 images in, preprocessing inside.

The same models become `.keras` files (`Model.save`) and, at a fixed input
size, the graphs the ONNX and LiteRT converters take (`onnx_file`, `litert_file`).
"""

import keras

from dim_tf.exporting import serving

ENCODER_OUTPUTS = ("local", "conv", "fc", "y")
PROBE_OUTPUTS = ("probabilities", "class_ids")


def _images(run, portable):
    layer, shape = serving.serving_input(run, portable)
    images = keras.Input(shape=shape, dtype="uint8", name="images")
    return images, layer(images)


def _float32(tensor, name):
    # An identity in float32: casts a mixed-precision encoder's outputs.
    return keras.layers.Identity(dtype="float32", name=name)(tensor)


def encoder_model(run, portable=False):
    """images uint8 `[B, H, W, c]` -> `{"local", "conv", "fc", "y"}` float32.

    Args:
      run: `dim_tf.training.runs.Run`.
      portable: the fixed stored input size of `serving.serving_input`.
    """
    images, inputs = _images(run, portable)
    outputs = run.encoder(inputs, training=False)
    return keras.Model(
        images,
        {name: _float32(outputs[name], name) for name in ENCODER_OUTPUTS},
        name="dim_encoder",
    )


def probe_model(run, classifier, portable=False):
    """images uint8 `[B, H, W, c]` -> probabilities float32 `[B, K]`, class_ids int64 `[B]`.

    Args:
      run: `dim_tf.training.runs.Run`.
      classifier: model input `[B, S, S, C]` -> logits `[B, K]`.
      portable: the fixed stored input size of `serving.serving_input`.
    """
    images, inputs = _images(run, portable)
    logits = _float32(classifier(inputs, training=False), "logits")
    return keras.Model(
        images,
        {
            "probabilities": keras.layers.Softmax(name="probabilities")(logits),
            "class_ids": serving.ClassIds(name="class_ids")(logits),
        },
        name="dim_probe",
    )
