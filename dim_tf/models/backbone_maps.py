"""The feature maps of a backbone's graph: block ends and the default local map.

A backbone's layers and operations (`keras.Model.operations`, residual adds
included) in topological order; a map is one with a single 4-D output.
"""

from __future__ import annotations

import math

import keras

from dim_tf.models import backbone_input

# The default local map's stride: 8 below this image side, 16 from it on.
STRIDE_16_FROM = 128

# Layers that only pad or rescale: never a block's end.
_NOT_MAPS = (
    keras.layers.InputLayer,
    keras.layers.ZeroPadding2D,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    backbone_input.ImageRange,
)


def is_map(op):
    """Whether layer or operation `op` outputs one 4-D map in the model's graph."""
    if isinstance(op, _NOT_MAPS):
        return False
    try:
        output = op.output
    except (AttributeError, ValueError):
        return False
    return isinstance(output, keras.KerasTensor) and len(output.shape) == 4


def block_ends(backbone: keras.Model) -> list:
    """Per map size, the layer (or operation) where a block of the trunk ends.

    Candidates are maps (not padding or rescaling) that no connection skips:
    every later layer sees the earlier ones only through them. Per size, the
    block end is the last candidate that merges inputs or feeds several
    layers (a residual or dense block's output); in a plain chain, the last
    candidate; for a size without candidates, the last merge; for the last
    size, the last map.
    """
    ops = backbone.operations
    position = {id(op): i for i, op in enumerate(ops)}
    reach = list(range(len(ops)))  # reach[i]: the furthest reader of op i
    fan_in, fan_out = [0] * len(ops), [0] * len(ops)
    for j, op in enumerate(ops):
        producers = {
            position.get(id(tensor._keras_history.operation))
            for node in op._inbound_nodes
            for tensor in node.input_tensors
        }
        producers = {i for i in producers if i is not None and i < j}
        fan_in[j] = len(producers)
        for i in producers:
            reach[i] = max(reach[i], j)
            fan_out[i] += 1
    for tensor in backbone.outputs:
        i = position[id(tensor._keras_history.operation)]
        reach[i], fan_out[i] = len(ops), fan_out[i] + 1
    chain, joint, merges = {}, {}, {}  # map size -> its last such op
    furthest = 0  # the furthest reader of the ops before i
    for i, op in enumerate(ops):
        if not is_map(op):
            furthest = max(furthest, reach[i])
            continue
        size = tuple(op.output.shape[1:3])
        if fan_in[i] > 1:
            merges[size] = op
        if furthest <= i:
            chain[size] = op
            if fan_in[i] > 1 or fan_out[i] > 1:
                joint[size] = op
        furthest = max(furthest, reach[i])
    last = [op for op in ops if is_map(op)][-1]
    # Cells reading the two cells before them (NASNet) leave no candidate:
    # there, a size's last merge (a cell's output) ends it.
    ends = {**merges, **chain, **joint, tuple(last.output.shape[1:3]): last}
    return sorted(ends.values(), key=lambda op: position[id(op)])


def default_local_layer(backbone: keras.Model) -> keras.layers.Layer:
    """The last block end at least ceil(S / stride) wide (stride 8, or 16 from 128 px)."""
    side = backbone.inputs[0].shape[1]
    stride = 16 if side >= STRIDE_16_FROM else 8
    ends = block_ends(backbone)
    wide = [
        layer for layer in ends if layer.output.shape[1] >= math.ceil(side / stride)
    ]
    return (wide or ends)[-1]


def describe(backbone):
    """'name HxWxC (stride s), ...' for every block end of `backbone`."""
    side = backbone.inputs[0].shape[1]
    parts = []
    for op in block_ends(backbone):
        h, w, c = op.output.shape[1:]
        parts.append(f"{op.name} {h}x{w}x{c} (stride {side / h:.3g})")
    return ", ".join(parts)
