"""The ResNet trunks of the `resnet*` encoders: bottleneck blocks after a conv stem.

The official DIM code's `resnet19_32x32` (`cortex_DIM/configs/resnets.py`):
3x3 stride-2 stem, then post-activation bottleneck blocks. The 64x64 trunk adds
a 3x3 stride-2 max-pool after the stem so the blocks see the 32x32 sizes.
Layer tables: docs/architectures.md.
"""

from __future__ import annotations

import dataclasses

# Output channels of a bottleneck block per unit of its width.
EXPANSION = 4


@dataclasses.dataclass(frozen=True)
class Blocks:
    """`repeat` bottleneck blocks of one width; the first has stride `stride`."""

    width: int
    stride: int = 1
    repeat: int = 1


@dataclasses.dataclass(frozen=True)
class ResNetTrunk:
    """A conv stem (optionally max-pooled), then `Blocks` entries."""

    blocks: tuple[Blocks, ...]
    stem_filters: int = 64
    stem_pool: bool = False

    def outputs(self, x, layers):
        """`x [B, S, S, C]` -> one feature map per stage: stem, then each entry."""
        x = layers.conv_bn_relu(x, self.stem_filters, 3, 2, 1, "stem")
        if self.stem_pool:
            # Zero padding equals PyTorch's -inf padding: the input is >= 0 (ReLU).
            x = layers.zero_pad(x, 1, "stem_pool_pad")
            x = layers.max_pool(x, 3, 2, "stem_pool")
        outputs = [x]
        for i, entry in enumerate(self.blocks, start=1):
            for j in range(entry.repeat):
                stride = entry.stride if j == 0 else 1
                x = bottleneck(x, entry.width, stride, layers, f"block{i}_{j + 1}")
            outputs.append(x)
        return outputs


def bottleneck(x, width, stride, layers, prefix):
    """One post-activation bottleneck block: `[B, H, W, C]` -> `[B, H', W', 4*width]`."""
    h = layers.conv_bn_relu(x, width, 1, 1, 0, f"{prefix}_conv1")
    h = layers.conv_bn_relu(h, width, 3, stride, 1, f"{prefix}_conv2")
    h = layers.conv(h, EXPANSION * width, 1, 1, 0, f"{prefix}_conv3")
    h = layers.batch_norm(h, f"{prefix}_conv3_bn")
    shortcut = x
    if stride != 1 or x.shape[-1] != EXPANSION * width:
        shortcut = layers.conv(x, EXPANSION * width, 1, stride, 0, f"{prefix}_shortcut")
        shortcut = layers.batch_norm(shortcut, f"{prefix}_shortcut_bn")
    out = layers.add([h, shortcut], f"{prefix}_add")
    return layers.relu(out, f"{prefix}_relu")


# The official resnet19_32x32's blocks.
_RESNET19_BLOCKS = (
    Blocks(64, 1, 2),
    Blocks(128, 2),
    Blocks(128),
    Blocks(256, 2),
    Blocks(256),
)

RESNET32 = ResNetTrunk(_RESNET19_BLOCKS)
RESNET64 = ResNetTrunk(_RESNET19_BLOCKS, stem_pool=True)
