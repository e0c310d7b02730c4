"""MI terms across augmented views and feature scales (`objective.views`, `scales`).

With one view (the paper) every term pairs an image's global vector with its
own local features. With two views of each image, every term pairs the
source features of one view with the target map of the other, in both
directions, and averages the two (AMDIM, Bachman et al. 2019). Negatives span
the global batch as in `dim_tf.objective.dim_loss`.

The local term is the weighted sum of the `objective.scales` pairs; with the
default single pair "y:local" it is exactly the paper's local MI.
"""

import tensorflow as tf

from dim_tf.objective import dim_loss, occlusion


def encode_views(encoder, images, views, occlusion_fraction, seed, replica):
    """Encoder outputs of each view; Y from occluded images when asked.

    Args:
      encoder: the encoder (a callable `images -> dict of outputs`).
      images: this replica's rows: `[n, S, S, C]` (one view) or
        `[n, V, S, S, C]` (V views).
      views: V, 1 or 2.
      occlusion_fraction: area hidden from Y (`objective.occlusion`); 0 = off.
      seed: int32 `[2]` of this step (occlusion squares), equal on all replicas.
      replica: `dim_loss.ReplicaContext`.

    Returns:
      List of V dicts of encoder outputs `[n, ...]`. Every view is encoded in
      one pass, so BatchNorm sees both views' statistics together. The
      occluded pass normalises with its own batch statistics but leaves the
      moving statistics as the clean pass set them: evaluation and export
      normalise clean images with them.
    """
    batch = images if views == 1 else tf.concat(tf.unstack(images, axis=1), 0)
    features = encoder(batch, training=True)
    if occlusion_fraction > 0:
        parts = tf.split(batch, views) if views > 1 else [batch]
        hidden = [
            occlusion.occlude(
                part,
                occlusion_fraction,
                tf.random.experimental.stateless_fold_in(seed, view),
                replica,
            )
            for view, part in enumerate(parts)
        ]
        hidden = hidden[0] if views == 1 else tf.concat(hidden, 0)
        # A second pass: Y of the occluded images, every map of the clean ones.
        features = dict(features, y=_batch_statistics_pass(encoder, hidden)["y"])
    if views == 1:
        return [features]
    split = {name: tf.split(value, views) for name, value in features.items()}
    return [{name: parts[v] for name, parts in split.items()} for v in range(views)]


# The variables a Keras BatchNormalization layer updates in a training call
# (batch renormalisation's included).
_MOVING_STATISTICS = (
    "moving_mean",
    "moving_variance",
    "moving_stddev",
    "renorm_mean",
    "renorm_stddev",
)


def _batch_statistics_pass(encoder, images):
    """`encoder(images, training=True)` without changing its moving statistics.

    Keras BatchNorm layers update their moving statistics in every
    training-mode call; those variables are read before the call and put
    back after it. Other state (a Dropout layer's seed, frozen weights) is
    left alone. Inside a `tf.function` the reads, the layers' updates and
    the restores run in program order (automatic control dependencies order
    the ops on each variable); under MirroredStrategy each replica restores
    its own copy.
    """
    moving = [
        variable
        for variable in encoder.non_trainable_variables
        if variable.name in _MOVING_STATISTICS
    ]
    before = [tf.identity(variable.value) for variable in moving]
    outputs = encoder(images, training=True)
    for variable, value in zip(moving, before):
        variable.assign(value)
    return outputs


def directions(views):
    """(source view, target view) pairs: (0, 0) for one view, else both ways."""
    return ((0, 0),) if views == 1 else ((0, 1), (1, 0))


def cross_view_mi(
    critic, view_features, source, target, estimator, replica, mean_squared_score=False
):
    """MI of `source` features against the `target` map, averaged over directions.

    Args:
      critic: a critic with `embed` / `pair_scores` (`dim_tf.models.critics`,
        `dim_tf.models.scale_critics.MapCritic`).
      view_features: the output of `encode_views`.
      source: "y" or a map name; target: a map name.
      estimator: one of `dim_tf.objective.ESTIMATORS`.
      replica: `dim_loss.ReplicaContext`.
      mean_squared_score: also return the mean squared unclipped score.

    Returns:
      `(mi, mean_squared_score)`: scalar float32 MI estimate for the global
      batch in nats, and the critic's mean squared score before the clip
      (None unless asked for), each averaged over the directions.
    """
    values, squares = [], []
    for source_view, target_view in directions(len(view_features)):
        pair = {
            "local": view_features[target_view][target],
            "y": view_features[source_view][source],
        }
        terms = dim_loss.critic_mi(critic, pair, estimator, replica, mean_squared_score)
        values.append(terms.mi)
        squares.append(terms.mean_squared_score)
    return _mean(values), _mean(squares) if mean_squared_score else None


def _mean(values):
    return values[0] if len(values) == 1 else tf.add_n(values) / len(values)


def mi_terms(
    view_features,
    pair_critics,
    global_critic,
    weights,
    estimator,
    replica,
    score_penalty=0.0,
):
    """The MI terms of one step, and the critics' score penalty.

    Args:
      view_features: the output of `encode_views`.
      pair_critics: list of `(ScalePair, critic)`, the `objective.scales`
        pairs (used when `weights.beta` > 0).
      global_critic: Y against the whole local map, or None (`weights.alpha`).
      weights: `dim_tf.objective.Weights`.
      estimator: one of `dim_tf.objective.ESTIMATORS`.
      replica: `dim_loss.ReplicaContext`.
      score_penalty: weight of the mean squared (unclipped) score, summed
        over the critics used; 0 = off (the paper).

    Returns:
      Dict of scalar float32 global-batch values: "mi/local" (the weighted
      sum of the pairs) and, with several pairs, "mi/SOURCE-TARGET" each;
      "mi/global" when alpha > 0; with `score_penalty` > 0 also
      `dim_loss.SCORE_PENALTY`, the weighted penalty the loss adds.
    """
    terms = {}
    penalize = score_penalty > 0
    squares = []
    if weights.beta > 0:
        weighted = []
        for pair, critic in pair_critics:
            value, square = cross_view_mi(
                critic,
                view_features,
                pair.source,
                pair.target,
                estimator,
                replica,
                penalize,
            )
            squares.append(square)
            if len(pair_critics) > 1:
                terms[f"mi/{pair.name}"] = value
            weighted.append(value if pair.weight == 1 else pair.weight * value)
        terms["mi/local"] = weighted[0] if len(weighted) == 1 else tf.add_n(weighted)
    if weights.alpha > 0:
        terms["mi/global"], square = cross_view_mi(
            global_critic, view_features, "y", "local", estimator, replica, penalize
        )
        squares.append(square)
    if penalize:
        terms[dim_loss.SCORE_PENALTY] = score_penalty * (
            tf.add_n(squares) if squares else tf.constant(0.0)
        )
    return terms
