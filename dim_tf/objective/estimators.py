"""Mutual-information lower bounds on critic scores: JSD, InfoNCE and DV.

Pure float32 functions of `scores[i, j, l]`: image i's global vector against
image j's local vector at location l (`i == j` positives), in stable forms.
"""

import dataclasses
import math

import tensorflow as tf

from dim_tf.objective import ESTIMATORS

_LOG2 = math.log(2.0)


def mi_bound(scores, estimator):
    """The lower bound on mutual information that training maximises.

    Args:
      scores: float tensor `[N, N, L]`, `L >= 1`; `scores[i, i, l]` positives.
      estimator: one of `"jsd"`, `"nce"`, `"dv"`.

    Returns:
      Scalar float32 tensor, in nats.

    Raises:
      ValueError for an unknown estimator name.
    """
    return sharded_mi_bound(scores, estimator)


def sharded_mi_bound(
    scores,
    estimator,
    row_offset=0,
    num_shards=1,
    sum_across_shards=None,
    queries_per_image=1,
):
    """`mi_bound` of a global batch over equal shards: float32, equal on all shards.

    Args:
      scores: float tensor `[n * q, N, L]`: this shard's rows against all N
        columns; q consecutive rows (queries) belong to one image.
      estimator: one of `ESTIMATORS`.
      row_offset: global index of this shard's first image (int or int
        tensor): row k's positive is column `row_offset + k // q`.
      num_shards: how many shards hold rows.
      sum_across_shards: callable summing a tensor over all shards; None for one.
      queries_per_image: q (int or int scalar tensor).
    """
    bound_fn = _BOUNDS.get(estimator)
    if bound_fn is None:
        raise ValueError(
            f"unknown MI estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}"
        )
    scores = tf.cast(scores, tf.float32)
    n, num_images = tf.shape(scores)[0], tf.shape(scores)[1]
    row_images = tf.range(n)
    if not (isinstance(queries_per_image, int) and queries_per_image == 1):
        row_images //= tf.cast(queries_per_image, tf.int32)
    positive_mask = tf.equal(
        (row_offset + row_images)[:, None], tf.range(num_images)[None, :]
    )
    total = sum_across_shards or (lambda x: x)
    shape = tf.cast(tf.shape(scores), tf.float32)
    counts = _Counts(
        positives=shape[0] * num_shards * shape[2],
        negatives=shape[0] * num_shards * (shape[1] - 1.0) * shape[2],
        candidates=1.0 + (shape[1] - 1.0) * shape[2],
        num_shards=int(num_shards),
        shard=tf.cast(row_offset, tf.int32)
        // tf.maximum(n // tf.cast(queries_per_image, tf.int32), 1),
    )
    return bound_fn(scores, positive_mask, counts, total)


@dataclasses.dataclass
class _Counts:
    """Global numbers of positive and negative entries, NCE's candidates K, shards."""

    positives: tf.Tensor
    negatives: tf.Tensor
    candidates: tf.Tensor
    num_shards: int
    shard: tf.Tensor


def _jsd(scores, positive_mask, counts, total):
    # Jensen-Shannon bound (f-GAN form): E_P[log2 - sp(-s)] - E_Q[sp(s) - log2].
    num_pos, num_neg = counts.positives, counts.negatives
    positives = tf.boolean_mask(scores, positive_mask)  # [n, L]
    positive_term = total(tf.reduce_sum(_LOG2 - tf.nn.softplus(-positives)))
    negative_mask = tf.cast(tf.logical_not(positive_mask), tf.float32)[:, :, None]
    negative_term = total(
        tf.reduce_sum((tf.nn.softplus(scores) - _LOG2) * negative_mask)
    )
    return positive_term / num_pos - negative_term / num_neg


def _nce(scores, positive_mask, counts, total):
    # InfoNCE: each positive (i, l) competes with every negative of row i
    # (all j != i, all l'); K = 1 + (N-1)L candidates, bound = log K + E[log p].
    num_pos = counts.positives
    positives = tf.boolean_mask(scores, positive_mask)  # [n, L]
    negatives = tf.where(positive_mask[:, :, None], -math.inf, scores)
    negative_lse = tf.reduce_logsumexp(negatives, axis=(1, 2))  # [n]
    log_softmax = positives - tf.math.reduce_logsumexp(
        tf.stack(
            [positives, tf.broadcast_to(negative_lse[:, None], tf.shape(positives))]
        ),
        axis=0,
    )
    return total(tf.reduce_sum(log_softmax)) / num_pos + tf.math.log(counts.candidates)


def _dv(scores, positive_mask, counts, total):
    # Donsker-Varadhan: E_P[s] - log E_Q[exp(s)], exp shifted by the global max.
    num_pos, num_neg = counts.positives, counts.negatives
    positive_mean = (
        total(tf.reduce_sum(tf.boolean_mask(scores, positive_mask))) / num_pos
    )
    negatives = tf.where(positive_mask[:, :, None], -math.inf, scores)
    shift = tf.stop_gradient(
        _max_across_shards(tf.reduce_max(negatives), counts, total)
    )
    sum_exp = total(tf.reduce_sum(tf.exp(negatives - shift)))
    return positive_mean - (tf.math.log(sum_exp) + shift - tf.math.log(num_neg))


def _max_across_shards(value, counts, total):
    """The maximum of a finite scalar over all shards (all-reduce only sums)."""
    if counts.num_shards == 1:
        return value
    slots = tf.where(
        tf.range(counts.num_shards) == counts.shard, value, tf.zeros_like(value)
    )
    return tf.reduce_max(total(slots))


_BOUNDS = {"jsd": _jsd, "nce": _nce, "dv": _dv}
