"""The DIM objective: MI estimates from encoder features, weighted with the prior term.

`alpha * MI_global + beta * MI_local - gamma * prior_loss` is maximised; its
negative is the loss. Defaults per mode are the paper's (docs/method.md):
DIM(G) alpha=1, beta=0, gamma=1; DIM(L) alpha=0, beta=1, gamma=0.1;
DIM(L+G) alpha=0.5, beta=0.1, gamma=0.1. An optional score penalty
(`critic.score_penalty`, AMDIM's) adds the weighted mean squared critic score.

The functions here work on one replica's share of the global batch. Negatives
span the global batch: each critic's local-side embeddings are gathered from
all replicas and each replica scores its own global vectors against all of
them, so the result does not depend on how the batch is split.
"""

from typing import NamedTuple, Optional

import tensorflow as tf

from dim_tf.objective import estimators

# The metric (and loss term) name of the critics' score penalty.
SCORE_PENALTY = "critic/score_penalty"


class ReplicaContext:
    """How one replica sees the global batch: gathers and sums across replicas.

    Wraps `tf.distribute.get_replica_context()`; with no strategy (or one
    replica) every operation is the identity.
    """

    def __init__(self):
        self._ctx = tf.distribute.get_replica_context()
        self.num_replicas = self._ctx.num_replicas_in_sync if self._ctx else 1

    def gather(self, value):
        """`[n, ...]` on each replica -> `[n * replicas, ...]` in replica order.

        Built as an all-reduce of zero-padded blocks rather than `all_gather`:
        the gradient of an all-reduce is again an all-reduce, while the
        gradient of `all_gather` launches collectives in an order that can
        differ between replicas and abort the step.
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
      scores: float32 `[n, N, L]` scores of this replica's rows, as the
        estimator saw them (scaled and soft-clipped when the critic is).
      mean_squared_score: scalar float32, the mean of the squared scores
        before the soft clip over the global `[N, N, L]`, or None when not
        asked for.
    """

    mi: tf.Tensor
    scores: tf.Tensor
    mean_squared_score: Optional[tf.Tensor]


def critic_mi(critic, features, estimator, replica, mean_squared_score=False):
    """One critic's MI estimate for the global batch.

    Args:
      critic: a critic from `dim_tf.models.critics` (`embed` /
        `unclipped_pair_scores` / `clip_scores`).
      features: encoder outputs for this replica's images; uses "local" and "y"
        (a map-to-map critic takes the target map as "local" and the source
        map as "y").
      estimator: one of `estimators.ESTIMATORS`.
      replica: `ReplicaContext`.
      mean_squared_score: also compute `CriticTerms.mean_squared_score`.

    Returns:
      `CriticTerms`.
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
        # A map-to-map critic scores every source location: rows per image.
        queries_per_image=_queries_per_image(scores, global_emb),
    )
    mean_square = None
    if mean_squared_score:
        # Every replica holds the same number of rows: the global mean is the
        # mean of the replicas' means.
        own = tf.reduce_mean(tf.square(tf.cast(unclipped, tf.float32)))
        mean_square = replica.sum(own) / replica.num_replicas
    return CriticTerms(bound, scores, mean_square)


def _queries_per_image(scores, global_emb):
    """1 for a critic of global vectors (`global_emb [n, G]`), else the source
    locations per image (`global_emb [n, L_s, E]`, `scores [n * L_s, N, L]`)."""
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
    """The MI terms the weights ask for, and the critics' score penalty.

    Args:
      features: encoder outputs for this replica's images.
      local_critic: critic of Y against each local vector, or None.
      global_critic: critic of Y against the whole local map, or None.
      weights: `Weights`; a term with weight 0 is not computed.
      estimator: one of `estimators.ESTIMATORS`.
      replica: `ReplicaContext`.
      score_penalty: weight of the mean squared (unclipped) score, summed
        over the critics used; 0 = off (the paper).

    Returns:
      Dict with "mi/local" and/or "mi/global": scalar float32, global batch;
      with `score_penalty` > 0 also "critic/score_penalty", the weighted
      penalty `encoder_loss` adds.
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
    """The loss the encoder and critics minimise, for the global batch.

    Args:
      mi_terms: output of `mi_estimates` (global values).
      prior_loss: scalar float32 encoder prior loss, or None without a prior.
      weights: `Weights`.

    Returns:
      Scalar float32: `-(alpha * MI_global + beta * MI_local) + gamma * prior_loss`,
      plus the score penalty when `mi_terms` has one.
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
