"""Deep InfoMax encoders: images -> local feature map, probe taps and global Y.

The four convolutional encoders of Hjelm et al., ICLR 2019 (appendix A.2 and
the authors' `cortex_DIM/configs/convnets.py`). Each is a functional
`keras.Model` named after the encoder, taking float images in [-1, 1]
`[B, H, W, C]` (any channel count C) and returning a dict:

- `"local"`: `[B, M, M, C_local]`, the map whose M*M vectors local DIM scores
  against Y;
- `"conv"`: the last convolutional block, a tap for probes;
- `"fc"`: `[B, D_fc]`, the last hidden fully connected layer, a tap for probes;
- `"y"`: `[B, y_dim]`, the global representation (a linear layer);
- `"conv1"` .. `"convK"`: each convolutional block's output (`block_maps`),
  the maps multi-scale MI can score.

Every convolution and hidden fully connected layer is followed by
BatchNormalization then ReLU, with no bias before the BatchNorm; taps are taken
after the ReLU (and after the max-pool where a block has one), as in the
official code. Padding is an explicit `ZeroPadding2D` before a 'valid'
convolution so the PyTorch arithmetic `(W - K + 2P) // S + 1` holds exactly.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Optional, Sequence

import keras

from dim_tf.errors import UserError
from dim_tf.models import ENCODER_INPUT_SIZES, ENCODERS


@dataclasses.dataclass(frozen=True)
class _Conv:
    filters: int
    kernel: int
    stride: int
    padding: int
    pool: Optional[tuple[int, int]] = None  # (pool size, stride), 'valid'


@dataclasses.dataclass(frozen=True)
class _Spec:
    convs: tuple[_Conv, ...]
    fcs: tuple[int, ...]
    local_idx: int  # index of the conv block whose output is "local"
    conv_idx: int  # index of the conv block whose output is "conv"


_SPECS = {
    "basic28x28": _Spec(
        convs=(_Conv(64, 5, 2, 2), _Conv(128, 5, 2, 2)),
        fcs=(1024,),
        local_idx=1,
        conv_idx=1,
    ),
    "basic32x32": _Spec(
        convs=(_Conv(64, 4, 2, 1), _Conv(128, 4, 2, 1), _Conv(256, 4, 2, 1)),
        fcs=(1024,),
        local_idx=1,
        conv_idx=2,
    ),
    "basic64x64": _Spec(
        convs=(
            _Conv(64, 4, 2, 1),
            _Conv(128, 4, 2, 1),
            _Conv(256, 4, 2, 1),
            _Conv(512, 4, 2, 1),
        ),
        fcs=(1024,),
        local_idx=2,
        conv_idx=3,
    ),
    "alex64x64": _Spec(
        convs=(
            _Conv(96, 3, 1, 1, pool=(3, 2)),
            _Conv(192, 3, 1, 1, pool=(3, 2)),
            _Conv(384, 3, 1, 1),
            _Conv(384, 3, 1, 1),
            _Conv(192, 3, 1, 1, pool=(3, 2)),
        ),
        fcs=(4096, 4096),
        local_idx=2,
        conv_idx=4,
    ),
}

# Input sizes and the list of names: dim_tf/models/__init__.py (TensorFlow-free).

# PyTorch BatchNorm defaults (momentum 0.1 there is 0.9 here), as in the
# official code; Keras's own defaults (0.99, 1e-3) adapt slower.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise UserError(
            f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}"
        )
    return _SPECS[name]


def encoder_input_size(name: str) -> int:
    """The image height and width (square) that encoder `name` takes.

    Raises:
        UserError: `name` is not in `ENCODERS`.
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
) -> keras.Model:
    """Builds the DIM encoder `name` (Hjelm et al. 2019, appendix A.2).

    Args:
        name: one of `ENCODERS`: "basic28x28" (MNIST-like), "basic32x32"
            (CIFAR), "basic64x64", "alex64x64" (STL-10, Tiny ImageNet).
        image_shape: `(H, W, C)`; H = W = `encoder_input_size(name)`, any C.
        y_dim: width of the global representation Y.
        dtype: Keras dtype policy name for every layer ("float32",
            "mixed_bfloat16", "mixed_float16", ...) or None for the global
            policy. Under a mixed policy the outputs are in the compute dtype.
        sync_batch_norm: BatchNorm statistics over the global batch (all
            replicas of a `tf.distribute` strategy) instead of each replica's.

    Returns:
        A functional `keras.Model` named `name`: images `[B, H, W, C]` in
        [-1, 1] -> dict with "local" `[B, M, M, C_local]`, "conv"
        `[B, M', M', C_conv]`, "fc" `[B, D_fc]`, "y" `[B, y_dim]`:

        | name       | local      | conv      | fc   |
        |------------|------------|-----------|------|
        | basic28x28 | 7x7x128    | 7x7x128   | 1024 |
        | basic32x32 | 8x8x128    | 4x4x256   | 1024 |
        | basic64x64 | 8x8x256    | 4x4x512   | 1024 |
        | alex64x64  | 15x15x384  | 7x7x192   | 4096 |

    Raises:
        UserError: unknown name, or image height/width that the encoder does
            not take (one-line message saying what is allowed).
    """
    spec = _spec(name)
    _check_image_shape(name, image_shape)
    if not isinstance(y_dim, numbers.Integral) or isinstance(y_dim, bool) or y_dim < 1:
        raise UserError(f"y_dim must be a positive integer, got {y_dim!r}")

    def bn_relu(x, prefix):
        x = keras.layers.BatchNormalization(
            momentum=_BN_MOMENTUM,
            epsilon=_BN_EPSILON,
            synchronized=sync_batch_norm,
            dtype=dtype,
            name=f"{prefix}_bn",
        )(x)
        return keras.layers.ReLU(dtype=dtype, name=f"{prefix}_relu")(x)

    images = keras.Input(shape=tuple(int(d) for d in image_shape), name="images")
    x = images
    conv_outputs = []
    for i, conv in enumerate(spec.convs, start=1):
        prefix = f"conv{i}"
        if conv.padding:
            x = keras.layers.ZeroPadding2D(
                conv.padding, dtype=dtype, name=f"{prefix}_pad"
            )(x)
        x = keras.layers.Conv2D(
            conv.filters,
            conv.kernel,
            strides=conv.stride,
            padding="valid",
            use_bias=False,
            dtype=dtype,
            name=prefix,
        )(x)
        x = bn_relu(x, prefix)
        if conv.pool is not None:
            pool_size, pool_stride = conv.pool
            x = keras.layers.MaxPooling2D(
                pool_size,
                strides=pool_stride,
                padding="valid",
                dtype=dtype,
                name=f"{prefix}_pool",
            )(x)
        conv_outputs.append(x)

    x = keras.layers.Flatten(dtype=dtype, name="flatten")(x)
    for i, units in enumerate(spec.fcs, start=1):
        prefix = f"fc{i}"
        x = keras.layers.Dense(units, use_bias=False, dtype=dtype, name=prefix)(x)
        x = bn_relu(x, prefix)
    fc = x
    y = keras.layers.Dense(int(y_dim), dtype=dtype, name="y")(fc)

    outputs = {
        "local": conv_outputs[spec.local_idx],
        "conv": conv_outputs[spec.conv_idx],
        "fc": fc,
        "y": y,
    }
    outputs.update(block_maps(conv_outputs))
    return keras.Model(images, outputs, name=name)


def block_maps(block_outputs):
    """`{"conv1": ..., "convK": ...}`: every convolutional block's output map.

    Extra encoder outputs beside the four taps, for multi-scale MI
    (`objective.scales`); export, probes and the SavedModel signature keep
    to `local`, `conv`, `fc`, `y`. The names and count per encoder are
    `dim_tf.models.ENCODER_CONV_BLOCKS`.
    """
    return {f"conv{i}": x for i, x in enumerate(block_outputs, start=1)}
