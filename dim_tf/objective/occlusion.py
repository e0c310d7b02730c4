"""Occlusion (the paper's Table 4): Y is computed from a partly hidden image."""

import math

import tensorflow as tf


def occluded_side(size, fraction):
    """Side of the hidden square: `round(S * sqrt(fraction))` within [1, S - 1]."""
    return min(size - 1, max(1, round(size * math.sqrt(fraction))))


def occlude(images, fraction, seed, replica):
    """`images` with one random square per image set to 0 (same shape and dtype).

    Args:
      images: float `[n, S, S, C]`, this replica's rows of the global batch.
      fraction: area fraction hidden, in (0, 1).
      seed: int32 `[2]`, the same on every replica.
      replica: `dim_tf.objective.dim_loss.ReplicaContext`.
    """
    size = images.shape[1]
    side = occluded_side(size, fraction)
    rows = tf.shape(images)[0]
    corners = tf.random.stateless_uniform(
        [rows * replica.num_replicas, 2],
        seed,
        0,
        size - side + 1,
        dtype=tf.int32,
        alg="philox",  # XLA's default algorithm is not the CPU's.
    )
    start = replica.row_offset(rows)
    corners = corners[start : start + rows]
    pixels = tf.range(size)[None, :]
    top, left = corners[:, :1], corners[:, 1:]
    in_rows = (pixels >= top) & (pixels < top + side)  # [n, S]
    in_cols = (pixels >= left) & (pixels < left + side)  # [n, S]
    hidden = in_rows[:, :, None, None] & in_cols[:, None, :, None]  # [n, S, S, 1]
    return tf.where(hidden, tf.zeros_like(images), images)
