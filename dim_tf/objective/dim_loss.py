"""The DIM objective: MI estimates from encoder features, weighted with the prior term.

`alpha * MI_global + beta * MI_local - gamma * prior_loss`, over the global batch.
"""

from typing import NamedTuple, Optional

import tensorflow as tf

from dim_tf.objective import estimators

SCORE_PENALTY = "critic/score_penalty"


class ReplicaContext:
    """How one replica sees the global batch; the identity without a strategy."""

    def __init__(self):
        self._ctx = tf.distribute.get_replica_context()
        self.num_replicas = self._ctx.num_replicas_in_sync if self._ctx else 1

    def gather(self, value):
        """`[n, ...]` on each replica -> `[n * replicas, ...]` in replica order.

        All-reduced zero-padded blocks: `all_gather`'s gradient can abort the step.
        """
        if self.num_replicas == 1:
            return value
        rows = tf.shape(value)[0]
        before = self.row_offset(rows)
        after = (self.num_replicas - 1) * rows - before
        paddings = tf.concat(
            [[[before, after]], tf.zeros([tf.rank(value) - 1, 2], tf.int32)], axis=0
        )
        return self.sum(tf.pad(value, paddings))

    def sum(self, value):
        """Sum over replicas (differentiable: its gradient is again a sum)."""
        if self.num_replicas == 1:
            return value
        return self._ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)

    def row_offset(self, rows):
        """Global index of this replica's first row, for `rows` rows per replica."""
        if self.num_replicas == 1:
            return 0
        return tf.cast(self._ctx.replica_id_in_sync_group, tf.int32) * rows


class CriticTerms(NamedTuple):
    """What one critic contributes, for the global batch.

    Attributes:
      mi: scalar float32 MI estimate in nats, equal on all replicas.
      scores: float32 `[n, N, L]` scores of this replica's rows.
      mean_squared_score: scalar float32 over the global batch, unclipped, or None.
    """

    mi: tf.Tensor
    scores: tf.Tensor
    mean_squared_score: Optional[tf.Tensor]


def critic_mi(critic, features, estimator, replica, mean_squared_score=False):
    """One critic's `CriticTerms` for the global batch.

    Args:
      critic: a critic from `dim_tf.models.critics` or `scale_critics`.
      features: this replica's encoder outputs; uses "local" and "y".
      estimator: one of `estimators.ESTIMATORS`.
      replica: `ReplicaContext`.
      mean_squared_score: also compute `CriticTerms.mean_squared_score`.
    """
    local_emb, global_emb = critic.embed(
        features["local"], features["y"], training=True
    )
    all_local_emb = replica.gather(local_emb)
    unclipped = critic.unclipped_pair_scores(global_emb, all_local_emb)
    scores = critic.clip_scores(unclipped)
    images = tf.shape(global_emb)[0]
    bound = estimators.sharded_mi_bound(
        scores,
        estimator,
        row_offset=replica.row_offset(images),
        num_shards=replica.num_replicas,
        sum_across_shards=replica.sum,
        queries_per_image=_queries_per_image(scores, global_emb),
    )
    mean_square = None
    if mean_squared_score:
        # Equal rows per replica: the global mean is the mean of the means.
        own = tf.reduce_mean(tf.square(tf.cast(unclipped, tf.float32)))
        mean_square = replica.sum(own) / replica.num_replicas
    return CriticTerms(bound, scores, mean_square)


def _queries_per_image(scores, global_emb):
    """1 for global vectors `[n, G]`, else source locations per image `[n, L_s, E]`."""
    if global_emb.shape.rank == 2:
        return 1
    return tf.shape(scores)[0] // tf.shape(global_emb)[0]


def mi_estimates(
    features,
    local_critic,
    global_critic,
    weights,
    estimator,
    replica,
    score_penalty=0.0,
):
    """Scalar float32 "mi/local", "mi/global" (weight > 0) and "critic/score_penalty".

    Args:
      features, estimator, replica: as `critic_mi`.
      local_critic, global_critic: Y against local vectors / the map, or None.
      weights: `Weights`.
      score_penalty: weight of the mean squared unclipped score; 0 = off.
    """
    terms = {}
    penalties = []
    for name, weight, critic in (
        ("mi/local", weights.beta, local_critic),
        ("mi/global", weights.alpha, global_critic),
    ):
        if weight > 0:
            result = critic_mi(critic, features, estimator, replica, score_penalty > 0)
            terms[name] = result.mi
            penalties.append(result.mean_squared_score)
    if score_penalty > 0:
        terms[SCORE_PENALTY] = score_penalty * (
            tf.add_n(penalties) if penalties else tf.constant(0.0)
        )
    return terms


def encoder_loss(mi_terms, prior_loss, weights):
    """Scalar float32 `-(alpha MI_global + beta MI_local) + gamma prior_loss` + penalty.

    Args:
      mi_terms: output of `mi_estimates`.
      prior_loss: scalar float32 encoder prior loss, or None without a prior.
      weights: `Weights`.
    """
    loss = tf.constant(0.0)
    if SCORE_PENALTY in mi_terms:
        loss += mi_terms[SCORE_PENALTY]
    if "mi/global" in mi_terms:
        loss -= weights.alpha * mi_terms["mi/global"]
    if "mi/local" in mi_terms:
        loss -= weights.beta * mi_terms["mi/local"]
    if prior_loss is not None and weights.gamma > 0:
        loss += weights.gamma * prior_loss
    return loss
