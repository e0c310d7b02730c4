"""Deep InfoMax on any convolutional Keras backbone.

A backbone is a functional `keras.Model` (the trunk) taking dim_tf's images
in [-1, 1]: a `keras.applications` model by constructor name ("keras:NAME")
or a user's saved model ("file:PATH.keras"), with the family's input
conversion inside (`backbone_input`). `encoder_from_backbone` taps it like
dim_tf's own encoders: an intermediate map is "local", the last map
average-pooled is "fc", and a linear head on it is "y".
"""

from __future__ import annotations

import numbers
import os
import re
import warnings
from typing import Optional

import keras

from dim_tf import models
from dim_tf.errors import UserError
from dim_tf.models import backbone_input, backbone_maps
from dim_tf.models.encoder_layers import BN_MOMENTUM

SPEC_KINDS = models.BACKBONE_KINDS


def keras_constructors() -> tuple[str, ...]:
    """The vision model constructors of `keras.applications`, by name."""
    return tuple(
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def resolve_backbone(
    spec: str,
    image_size: int,
    channels: int = 3,
    weights=None,
    dtype=None,
    batch_norm_momentum: Optional[float] = BN_MOMENTUM,
) -> keras.Model:
    """The trunk `spec` names, taking `[B, S, S, channels]` images in [-1, 1].

    Args:
        spec: "keras:NAME", a `keras.applications` constructor (e.g.
            "keras:ResNet50"), built without its top; or "file:PATH.keras",
            a saved functional (or Sequential) model, assumed to take
            [-1, 1] unless its first layer is a Rescaling or Normalization
            (then [0, 255]).
        image_size: S, the side of the square images.
        channels: 1 (repeated to RGB inside the model) or 3; for "file:"
            the model's own channel count.
        weights: None (random initialisation, or the file's own weights) or
            the path of a local weights file for `keras.Model.load_weights`.
        dtype: Keras dtype policy name for every layer, or None for the
            global policy.
        batch_norm_momentum: of every BatchNormalization (None: the model's
            own). The default is dim_tf's encoders' 0.9: with Keras's 0.99 or
            0.999 the moving statistics that inference uses stay near their
            initial values for thousands of steps of training from scratch.

    Returns:
        A functional `keras.Model` whose layers (the conversion to the
        family's input range first) all lie in one graph.

    Raises:
        UserError: an unknown spec or constructor, weights="imagenet"
            (dim_tf does not download), a weights file that is missing or
            does not fit, an image size or channel count the model does not
            take, a file that does not load or is not a functional model.
    """
    if not isinstance(spec, str) or not spec.startswith(SPEC_KINDS):
        raise UserError(
            f"backbone {spec!r} must start with {' or '.join(SPEC_KINDS)} "
            "(keras:ResNet50, file:PATH.keras)"
        )
    if not isinstance(image_size, numbers.Integral) or image_size < 1:
        raise UserError(f"image_size must be a positive integer, got {image_size!r}")
    kind, _, rest = spec.partition(":")
    previous = keras.mixed_precision.global_policy()
    if dtype is not None:
        try:
            keras.mixed_precision.set_global_policy(dtype)
        except ValueError:
            raise UserError(
                f"dtype {dtype!r} is not a Keras dtype policy (float32, "
                "mixed_bfloat16, mixed_float16, ...)"
            ) from None
    try:
        if kind == "keras":
            model = _keras_trunk(rest, int(image_size), channels, weights)
        else:
            model = _file_trunk(rest, int(image_size), channels, dtype)
            if weights is not None:
                _load_weights(model, weights, spec)
        if batch_norm_momentum is not None:
            for layer in batch_norms(model):
                layer.momentum = float(batch_norm_momentum)
        if len(model.outputs) == 1:  # Called on a tensor, not a list of one.
            model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def _keras_trunk(name, image_size, channels, weights):
    constructor = _constructor(name)
    if channels not in (1, 3):
        raise UserError(
            f"keras:{name} takes 1 (grey, repeated to RGB) or 3 channels, "
            f"got {channels}"
        )
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise UserError(_imagenet_advice(constructor))
    images = keras.Input((image_size, image_size, channels), name="images")
    mode = backbone_input.input_mode(constructor)
    x = backbone_input.ImageRange(mode, to_rgb=channels == 1, name="input_range")(
        images
    )
    try:
        model = constructor(
            include_top=False,
            weights=None,
            input_tensor=x,
            input_shape=(image_size, image_size, 3),
        )
    except ValueError as e:
        raise UserError(_size_advice(name, image_size, e)) from None
    if weights is not None:
        _load_weights(model, weights, f"keras:{name}")
    return model


def _constructor(name):
    names = keras_constructors()
    if name not in names:
        raise UserError(models.unknown_keras_name(name, names))
    return getattr(keras.applications, name)


def _imagenet_advice(constructor):
    module = backbone_input.source_module(constructor)
    url = next(
        (
            getattr(module, attr)
            for attr in (
                "WEIGHTS_PATH_NO_TOP",
                "BASE_WEIGHTS_PATH",
                "BASE_WEIGHT_PATH",
                "BASE_WEIGHT_URL",
            )
            if isinstance(getattr(module, attr, None), str)
        ),
        None,
    )
    where = f" from {url}" if url else ""
    return (
        "dim_tf does not download weights: download the no-top ImageNet "
        f"weights file (name ending in notop.h5 or no_top.h5) that "
        f"keras.applications.{constructor.__name__}(include_top=False, "
        f"weights='imagenet') fetches{where} (Keras keeps it in "
        "~/.keras/models/) and pass its local path as the weights"
    )


def _size_advice(name, image_size, error):
    message = _first_line(error)
    least = re.search(r"at least (\d+)x(\d+)", message)
    if least:
        side = least.group(1)
        return (
            f"keras:{name} takes images of at least {side}x{side} pixels "
            f"(Keras's own check), got image_size {image_size}"
        )
    return (
        f"keras:{name} cannot be built for {image_size}x{image_size} images: {message}"
    )


def _first_line(error):
    """The first line of `error`'s message, at most 200 characters."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


def _load_weights(model, weights, spec):
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise UserError(f"weights file {path} of {spec} does not exist")
    try:
        with warnings.catch_warnings():
            # Keras warns for each weightless operation (a residual add) of
            # the graph; the weights of every layer still load.
            warnings.filterwarnings("ignore", "Skipping nested container")
            model.load_weights(path)
    except Exception as e:  # Keras raises ValueError, OSError, KeyError, ...
        raise UserError(
            f"weights file {path} does not fit {spec}: {_first_line(e)}"
        ) from None


def _file_trunk(path, image_size, channels, dtype):
    if not os.path.isfile(path):
        raise UserError(f"backbone file {path} does not exist")
    try:
        loaded = keras.saving.load_model(path, compile=False)
    except Exception as e:  # Any failure to load is the file's, not a bug.
        raise UserError(
            f"backbone file {path} does not load as a Keras model "
            f"({type(e).__name__}: {_first_line(e)})"
        ) from None
    loaded = _functional(loaded)
    if loaded is None:
        raise UserError(
            f"backbone file {path} holds a subclassed model; save a functional "
            "or Sequential model (one image input) so its layers can be tapped"
        )
    inputs = loaded.inputs
    shape = tuple(inputs[0].shape[1:])
    if len(inputs) != 1 or len(shape) != 3:
        raise UserError(
            f"backbone file {path} must take one image input [B, H, W, C], "
            f"takes {[tuple(t.shape) for t in inputs]}"
        )
    if shape[2] != channels or any(d not in (None, image_size) for d in shape[:2]):
        raise UserError(
            f"backbone file {path} takes images of shape {shape}; the images "
            f"are {image_size}x{image_size}x{channels}"
        )
    mode = backbone_input.file_model_mode(loaded)
    images = keras.Input((image_size, image_size, channels), name="images")
    ranged = backbone_input.ImageRange(mode, name="input_range")(images)

    def call(layer, *args, **kwargs):
        args = keras.tree.map_structure(lambda t: ranged if t is images else t, args)
        return layer(*args, **kwargs)

    # A copy of the graph reading `ranged`, so every layer has one node.
    try:
        model = keras.models.clone_model(
            loaded,
            input_tensors=[images] if isinstance(loaded.input, list) else images,
            clone_function=lambda layer: _copy(layer, dtype),
            call_function=call,
        )
    except ValueError as e:  # A layer's shape check: the images are too small.
        raise UserError(
            f"backbone file {path} cannot be built for {image_size}x{image_size} "
            f"images: {_first_line(e)}"
        ) from None
    for layer in loaded.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    return model


def _copy(layer, dtype):
    """A new `layer` from its config, under policy `dtype` when not None."""
    config = layer.get_config()
    if dtype is not None and "dtype" in config and not isinstance(layer, keras.Model):
        config["dtype"] = dtype
    return layer.__class__.from_config(config)


def _functional(model):
    """`model` as a functional model (a built Sequential's graph), or None."""
    if not isinstance(model, keras.Model):
        return None
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None
    if not inputs or not outputs:
        return None
    if isinstance(model, keras.Sequential):
        return keras.Model(inputs[0], outputs[0], name=model.name)
    return model


def encoder_from_backbone(
    backbone: keras.Model,
    local_layer: Optional[str] = None,
    conv_layer: Optional[str] = None,
    y_dim: int = 64,
    name: Optional[str] = None,
) -> keras.Model:
    """A DIM encoder on `backbone`: the taps of `encoders.build_encoder`.

    Args:
        backbone: a functional `keras.Model` taking `[B, S, S, C]` images in
            [-1, 1] (`resolve_backbone`'s).
        local_layer: the layer whose output is "local"; None: the last block
            end (`backbone_maps.block_ends`) at least ceil(S / 8) wide, ceil(S / 16) from
            `backbone_maps.STRIDE_16_FROM` pixels on: the end of the stride-8
            (16) stage.
        conv_layer: the layer whose output is "conv"; None: the last 4-D map.
        y_dim: width of Y.
        name: the model's name; None: the backbone's.

    Returns:
        A functional `keras.Model` sharing `backbone`'s layers: images
        `[B, S, S, C]` in [-1, 1] -> dict with "local" `[B, M, M, C_local]`,
        "conv" `[B, M', M', C_conv]`, "fc" `[B, D_fc]` (the last 4-D map
        globally average-pooled) and "y" `[B, y_dim]` (a Dense layer with
        bias, no activation), in the backbone's compute dtype.

    Raises:
        UserError: a layer name the backbone does not have (the message lists
            the block ends with their shapes and strides), a layer whose
            output is not a 4-D map, or a bad y_dim.
    """
    backbone = _functional(backbone)
    if (
        backbone is None
        or len(backbone.inputs) != 1
        or len(backbone.inputs[0].shape) != 4
    ):
        raise UserError(
            "the backbone must be a functional keras.Model with one image input "
            "[B, H, W, C] (see resolve_backbone)"
        )
    if not isinstance(y_dim, numbers.Integral) or isinstance(y_dim, bool) or y_dim < 1:
        raise UserError(f"y_dim must be a positive integer, got {y_dim!r}")
    maps = [op for op in backbone.operations if backbone_maps.is_map(op)]
    if not maps:
        raise UserError(f"backbone {backbone.name} has no 4-D feature map")
    last = maps[-1]
    # Named as users set them: the config's fields.
    local = _named_map(
        backbone, local_layer, "backbone.local_layer"
    ) or backbone_maps.default_local_layer(backbone)
    conv = _named_map(backbone, conv_layer, "backbone.conv_layer") or last
    head_dtype = backbone.dtype_policy
    fc = keras.layers.GlobalAveragePooling2D(dtype=head_dtype, name="fc")(last.output)
    y = keras.layers.Dense(int(y_dim), dtype=head_dtype, name="y")(fc)
    outputs = {"local": local.output, "conv": conv.output, "fc": fc, "y": y}
    return keras.Model(backbone.inputs[0], outputs, name=name or backbone.name)


def _named_map(backbone, op_name, field):
    if op_name is None:
        return None
    ops = {op.name: op for op in backbone.operations}
    if op_name not in ops:
        raise UserError(
            f"{field} {op_name!r} is not a layer of {backbone.name}; "
            f"block ends: {backbone_maps.describe(backbone)}"
        )
    op = ops[op_name]
    if not backbone_maps.is_map(op):
        output = getattr(op, "output", None)
        shape = tuple(output.shape) if isinstance(output, keras.KerasTensor) else "?"
        what = "only reads, pads or rescales the images" if len(shape) == 4 else ""
        raise UserError(
            f"{field} {op_name!r} {what or f'outputs {shape}, not a 4-D map'}; "
            f"choose a feature map [B, H, W, C], e.g. a block end: "
            f"{backbone_maps.describe(backbone)}"
        )
    return op


def batch_norms(model: keras.Model) -> list:
    """Every BatchNormalization layer of `model`, those of nested models too."""
    found, stack = [], list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)
    return found
