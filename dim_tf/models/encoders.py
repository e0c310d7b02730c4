"""Deep InfoMax encoders: images -> local feature map, probe taps and global Y.

Hjelm et al., ICLR 2019, appendix A.2 and the authors'
`cortex_DIM/configs/convnets.py`; ResNets in `resnets`, folded encoders in
`folding`. Layer tables: docs/architectures.md.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Optional, Sequence, Union

import keras

from dim_tf.errors import UserError
from dim_tf.models import (
    ENCODER_INPUT_SIZES,
    ENCODERS,
    backbones,
    folding,
    is_backbone,
    resnets,
)
from dim_tf.models.encoder_layers import EncoderLayers


@dataclasses.dataclass(frozen=True)
class _Conv:
    filters: int
    kernel: int
    stride: int
    padding: int
    pool: Optional[tuple[int, int]] = None  # (pool size, stride), 'valid'


@dataclasses.dataclass(frozen=True)
class _ConvTrunk:
    """Plain convolutional blocks; `outputs` lists each block's output."""

    convs: tuple[_Conv, ...]

    def outputs(self, x, layers):
        outputs = []
        for i, conv in enumerate(self.convs, start=1):
            prefix = f"conv{i}"
            x = layers.conv_bn_relu(
                x, conv.filters, conv.kernel, conv.stride, conv.padding, prefix
            )
            if conv.pool is not None:
                x = layers.max_pool(x, *conv.pool, name=f"{prefix}_pool")
            outputs.append(x)
        return outputs


@dataclasses.dataclass(frozen=True)
class _Spec:
    trunk: Union[_ConvTrunk, resnets.ResNetTrunk]
    fcs: tuple[int, ...]
    local_idx: int  # index of the trunk output that is "local"
    conv_idx: int  # index of the trunk output that is "conv"


@dataclasses.dataclass(frozen=True)
class _Folded:
    """The trunk of encoder `base` on a grid of crops (`dim_tf.models.folding`)."""

    base: str


_SPECS = {
    "basic28x28": _Spec(
        _ConvTrunk((_Conv(64, 5, 2, 2), _Conv(128, 5, 2, 2))),
        fcs=(1024,),
        local_idx=1,
        conv_idx=1,
    ),
    "basic32x32": _Spec(
        _ConvTrunk((_Conv(64, 4, 2, 1), _Conv(128, 4, 2, 1), _Conv(256, 4, 2, 1))),
        fcs=(1024,),
        local_idx=1,
        conv_idx=2,
    ),
    "basic64x64": _Spec(
        _ConvTrunk(
            (
                _Conv(64, 4, 2, 1),
                _Conv(128, 4, 2, 1),
                _Conv(256, 4, 2, 1),
                _Conv(512, 4, 2, 1),
            )
        ),
        fcs=(1024,),
        local_idx=2,
        conv_idx=3,
    ),
    "alex64x64": _Spec(
        _ConvTrunk(
            (
                _Conv(96, 3, 1, 1, pool=(3, 2)),
                _Conv(192, 3, 1, 1, pool=(3, 2)),
                _Conv(384, 3, 1, 1),
                _Conv(384, 3, 1, 1),
                _Conv(192, 3, 1, 1, pool=(3, 2)),
            )
        ),
        fcs=(4096, 4096),
        local_idx=2,
        conv_idx=4,
    ),
    # "local" is the first 8x8 block's output, "conv" the last (official code).
    "resnet32x32": _Spec(resnets.RESNET32, fcs=(1024,), local_idx=2, conv_idx=5),
    "resnet64x64": _Spec(resnets.RESNET64, fcs=(1024,), local_idx=2, conv_idx=5),
    "folded_basic32x32": _Folded("basic32x32"),
    "folded_basic64x64": _Folded("basic64x64"),
    "folded_alex64x64": _Folded("alex64x64"),
    "folded_resnet32x32": _Folded("resnet32x32"),
    "folded_resnet64x64": _Folded("resnet64x64"),
}

# Folded head: 3x3 stride-2 conv (7x7 -> 3x3) as in the official folded AlexNet.
FOLDED_HEAD_FILTERS = 384


def _spec(name: str):
    if name not in _SPECS:
        raise ValueError(
            f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}"
        )
    return _SPECS[name]


def encoder_input_size(name: str) -> int:
    """The image height and width (square) that encoder `name` takes.

    Raises:
        ValueError: `name` is not in `ENCODERS`.
    """
    _spec(name)
    return ENCODER_INPUT_SIZES[name]


def _check_image_shape(name: str, image_shape: Sequence[int]):
    shape = tuple(image_shape)
    if len(shape) != 3 or any(
        not isinstance(d, numbers.Integral) or isinstance(d, bool) or d < 1
        for d in shape
    ):
        raise UserError(
            f"encoder {name} takes images of shape (height, width, channels) "
            f"with positive integer sizes, got {shape}"
        )
    h, w, c = (int(d) for d in shape)
    size = ENCODER_INPUT_SIZES[name]
    if (h, w) != (size, size):
        fits = [n for n in ENCODERS if ENCODER_INPUT_SIZES[n] == h == w]
        sizes = sorted(set(ENCODER_INPUT_SIZES.values()))
        if fits:
            advice = (
                f"choose {' or '.join(fits)}, or resize the images to {size}x{size}"
            )
        else:
            advice = (
                f"resize the images to {size}x{size} "
                f"(encoders take {', '.join(f'{s}x{s}' for s in sizes)})"
            )
        raise UserError(
            f"encoder {name} takes {size}x{size} images, got {h}x{w}x{c}; {advice}"
        )


def build_encoder(
    name: str,
    image_shape: Sequence[int],
    y_dim: int = 64,
    dtype=None,
    sync_batch_norm: bool = False,
    backbone=None,
) -> keras.Model:
    """Builds the DIM encoder `name` (Hjelm et al. 2019, appendix A.2) or a backbone's.

    Args:
        name: one of `ENCODERS`, or a backbone spec "keras:NAME" /
            "file:PATH.keras" (`backbones.resolve_backbone`).
        image_shape: `(H, W, C)`; H = W = `encoder_input_size(name)`, any C;
            a backbone: any square size it takes, C as it takes.
        y_dim: width of the global representation Y.
        dtype: Keras dtype policy name for every layer, or None for the global
            policy; under a mixed policy outputs are in the compute dtype.
        sync_batch_norm: BatchNorm statistics over all replicas' batches.
        backbone: a backbone's `local_layer`, `conv_layer` and `weights` (the
            `backbone` config section or a dict; None = all unset).

    Returns:
        A functional `keras.Model`: images `[B, H, W, C]` in [-1, 1] -> dict
        with "local" `[B, M, M, C_local]`, "conv" `[B, M', M', C_conv]`, "fc"
        `[B, D_fc]`, "y" `[B, y_dim]` and, for `ENCODERS`, the block maps
        "conv1".."convK" (`block_maps`).

    Raises:
        ValueError: unknown name or bad `y_dim`.
        UserError: image height/width that the encoder does not take, or a
            backbone that cannot be built or tapped (one-line messages).
    """
    if is_backbone(name):
        return _backbone_encoder(
            name, image_shape, y_dim, dtype, sync_batch_norm, backbone or {}
        )
    spec = _spec(name)
    _check_image_shape(name, image_shape)
    if not isinstance(y_dim, numbers.Integral) or isinstance(y_dim, bool) or y_dim < 1:
        raise ValueError(f"y_dim must be a positive integer, got {y_dim!r}")
    layers = EncoderLayers(dtype, sync_batch_norm)
    images = keras.Input(shape=tuple(int(d) for d in image_shape), name="images")
    if isinstance(spec, _Folded):
        local, conv, fc = _folded_taps(images, _SPECS[spec.base], layers)
        blocks = []  # A folded trunk's maps are per crop, not per image.
    else:
        blocks = spec.trunk.outputs(images, layers)
        local, conv = blocks[spec.local_idx], blocks[spec.conv_idx]
        fc = _fcs(blocks[-1], spec.fcs, layers)
    y = layers.linear(fc, int(y_dim), "y")
    outputs = {"local": local, "conv": conv, "fc": fc, "y": y}
    outputs.update(block_maps(blocks))
    return keras.Model(images, outputs, name=name)


def _backbone_encoder(spec, image_shape, y_dim, dtype, sync_batch_norm, options):
    height, width, channels = (int(d) for d in image_shape)
    if height != width:
        raise UserError(f"backbone {spec} takes square images, got {height}x{width}")
    trunk = backbones.resolve_backbone(
        spec, height, channels, weights=options.get("weights"), dtype=dtype
    )
    encoder = backbones.encoder_from_backbone(
        trunk, options.get("local_layer"), options.get("conv_layer"), y_dim
    )
    for layer in backbones.batch_norms(encoder) if sync_batch_norm else ():
        layer.synchronized = True
    return encoder


def block_maps(block_outputs):
    """`{"conv1": ..., "convK": ...}`: every block's output map of the trunk.

    Extra outputs for multi-scale MI (`objective.scales`); export and probes
    keep to `local`, `conv`, `fc`, `y`.
    """
    return {f"conv{i}": x for i, x in enumerate(block_outputs, start=1)}


def _fcs(x, fcs, layers):
    """Flatten, then the fully connected layers `fc1`, `fc2`, ... (BN, ReLU)."""
    x = layers.flatten(x)
    for i, units in enumerate(fcs, start=1):
        x = layers.fc_bn_relu(x, units, f"fc{i}")
    return x


def _folded_taps(images, base: _Spec, layers):
    """`images` -> (local, conv, fc) of `base`'s trunk folded over crops.

    The trunk must end at 1x1 per crop; its `[B, 7, 7, F]` grid is both the
    local map and the conv tap (as in the official code).
    """
    grid = folding.crop_grid(images.shape[1])
    crops = folding.ExtractCrops(
        grid.crop, grid.stride, dtype=layers.dtype, name="crops"
    )(images)
    vectors = base.trunk.outputs(crops, layers)[-1]
    local = folding.FoldCrops(grid.grid, dtype=layers.dtype, name="fold")(vectors)
    head = layers.conv_bn_relu(local, FOLDED_HEAD_FILTERS, 3, 2, 0, "head_conv")
    return local, local, _fcs(head, base.fcs[-1:], layers)
