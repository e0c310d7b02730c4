"""Refuses a `data.cache` that would not fit in memory, before it is filled."""

import math

from dim_tf.errors import UserError

# The rest stays for the model, TensorFlow's runtime and the other processes.
MAX_SHARE = 0.5
MEMINFO = "/proc/meminfo"


def available_bytes():
    """MemAvailable of /proc/meminfo in bytes; None where it cannot be read."""
    try:
        with open(MEMINFO) as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # Given in KiB.
    except (OSError, ValueError, IndexError):
        return None
    return None


def check(examples, shape):
    """Raises when the cache of `examples` uint8 images of `shape` would not fit.

    Skipped when the count or a dimension is unknown, or memory cannot be read.

    Args:
      examples: images this input pipeline caches (< 0: unknown).
      shape: `(H, W, C)` of each cached image; None entries when sizes vary.

    Raises:
      UserError: the cache would exceed `MAX_SHARE` of the available memory.
    """
    if examples < 0 or len(shape) != 3 or None in shape:
        return
    available = available_bytes()
    if available is None:
        return
    needed = examples * math.prod(shape)
    if needed <= MAX_SHARE * available:
        return
    height, width, channels = shape
    raise UserError(
        f"data.cache=True would keep {examples:,} images of "
        f"{height}x{width}x{channels} ({_readable(needed)}) in memory, more than "
        f"{MAX_SHARE:.0%} of the {_readable(available)} available; set "
        "--config.data.cache=False (reads and decodes every epoch from disk) "
        "or use a smaller image_size"
    )


def _readable(count):
    """A byte count in GB, MB or KB (powers of 1000), or bytes."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
