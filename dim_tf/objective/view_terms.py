"""MI terms across augmented views and feature scales (`objective.views`, `scales`).

Two views: each term pairs one view's source features with the other's target
map, both ways, averaged (AMDIM, Bachman et al. 2019).
"""

import tensorflow as tf

from dim_tf.objective import dim_loss, occlusion


def encode_views(encoder, images, views, occlusion_fraction, seed, replica):
    """Encoder outputs of each view; Y from occluded images when asked.

    Args:
      encoder: the encoder (a callable `images -> dict of outputs`).
      images, views: this replica's `[n, S, S, C]` and 1, or `[n, V, S, S, C]` and V.
      occlusion_fraction: area hidden from Y (`objective.occlusion`); 0 = off.
      seed: int32 `[2]` of this step, equal on all replicas.
      replica: `dim_loss.ReplicaContext`.

    Returns:
      List of V dicts of encoder outputs `[n, ...]` (one BatchNorm pass for all).
    """
    batch = images if views == 1 else tf.concat(tf.unstack(images, axis=1), 0)
    features = encoder(batch, training=True)
    if occlusion_fraction > 0:
        parts = tf.split(batch, views) if views > 1 else [batch]
        hidden = [
            occlusion.occlude(
                part,
                occlusion_fraction,
                tf.random.experimental.stateless_fold_in(seed, view, alg="philox"),
                replica,
            )
            for view, part in enumerate(parts)
        ]
        hidden = hidden[0] if views == 1 else tf.concat(hidden, 0)
        features = dict(features, y=_batch_statistics_pass(encoder, hidden)["y"])
    if views == 1:
        return [features]
    split = {name: tf.split(value, views) for name, value in features.items()}
    return [{name: parts[v] for name, parts in split.items()} for v in range(views)]


# What a Keras BatchNormalization training call updates (renorm's included).
_MOVING_STATISTICS = (
    "moving_mean",
    "moving_variance",
    "moving_stddev",
    "renorm_mean",
    "renorm_stddev",
)


def _batch_statistics_pass(encoder, images):
    """`encoder(images, training=True)`, its moving statistics restored after."""
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
    """`(mi, mean_squared_score)` of `source` against `target`, direction-averaged.

    Args:
      critic, estimator, replica, mean_squared_score: as `dim_loss.critic_mi`.
      view_features: the output of `encode_views`.
      source: "y" or a map name; target: a map name.
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
    """MI terms as `dim_loss.mi_estimates`, and "mi/SOURCE-TARGET" of several pairs.

    Args:
      view_features: the output of `encode_views`.
      pair_critics: list of `(ScalePair, critic)` (used when `weights.beta` > 0).
      global_critic: Y against the whole local map, or None (`weights.alpha`).
      weights: `dim_tf.objective.Weights`.
      estimator, replica, score_penalty: as `dim_loss.mi_estimates`.
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
