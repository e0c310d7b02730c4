"""Score regularisation of the critics: the dot product's scale and a soft clip.

AMDIM's fix (Bachman et al., 2019) for a wide critic's large early scores:
"sqrt_units" divides the dot of two LayerNormed E-wide embeddings by sqrt(E);
the soft clip keeps every score within +-c, smoothly.
"""

import math
import numbers

from keras import ops

from dim_tf.models import SCORE_SCALES


def check_scale(score_scale):
    """Raises `ValueError` unless `score_scale` is one of `SCORE_SCALES`."""
    if score_scale not in SCORE_SCALES:
        raise ValueError(
            f"unknown critic score_scale {score_scale!r}; choose one of "
            f"{', '.join(SCORE_SCALES)}"
        )


def scale_factor(score_scale, units):
    """What the dot product is multiplied by: 1, or 1 / sqrt(`units`)."""
    check_scale(score_scale)
    return 1.0 / math.sqrt(units) if score_scale == "sqrt_units" else 1.0


def check_clip(score_clip):
    """`score_clip` as a float (None stays None), or a `ValueError`."""
    if score_clip is None:
        return None
    if (
        not isinstance(score_clip, numbers.Real)
        or isinstance(score_clip, bool)
        or not 0 < score_clip < math.inf
    ):
        raise ValueError(
            "critic score_clip must be a finite number > 0 or None (off), got "
            f"{score_clip!r}"
        )
    return float(score_clip)


def soft_clip(scores, limit):
    """`limit * tanh(scores / limit)` in float32; `limit` None: `scores` unchanged."""
    if limit is None:
        return scores
    scores = ops.cast(scores, "float32")
    return limit * ops.tanh(scores / limit)
