"""Score regularisation of the critics: the dot product's scale and a soft clip.

AMDIM's fix (Bachman et al., 2019) for the large scores a wide critic gives
early in training: the dot product of two LayerNormed E-wide embeddings has
a spread that grows like sqrt(E), so "sqrt_units" divides it by sqrt(E), and
a soft clip `c * tanh(s / c)` keeps every score within +-c while leaving
small scores about unchanged. The penalty on the squared scores is part of
the loss (`dim_tf.objective.dim_loss`).
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
    """`limit * tanh(scores / limit)` in float32; `limit` None: `scores` unchanged.

    About `scores` where |s| << limit, never beyond +-limit, smooth
    everywhere (its gradient, unlike a hard clip's, is never exactly zero).
    """
    if limit is None:
        return scores
    scores = ops.cast(scores, "float32")
    return limit * ops.tanh(scores / limit)
