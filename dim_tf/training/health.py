"""Signs of a collapsing representation, measured on a fixed batch while training.

Pure float32 functions of tensors, logged every `train.log_every` steps on a
fixed batch of test images as `health/` TensorBoard scalars (docs/usage.md).
"""

import tensorflow as tf


def y_std(y):
    """Mean over dimensions of the batch std of the L2-normalised rows of `y`.

    Args:
      y: `[B, D]` global representations.

    Returns:
      Scalar float32: 0 for a collapsed batch, about `1/sqrt(D)` when spread.
    """
    unit = tf.math.l2_normalize(tf.cast(y, tf.float32), axis=1)
    return tf.reduce_mean(tf.math.reduce_std(unit, axis=0))


def effective_rank(y):
    """Effective rank of the centred batch `y` (Roy & Vetterli 2007).

    `exp(H(s / sum(s)))`, `s` the singular values of the centred `[B, D]` matrix.

    Args:
      y: `[B, D]` global representations.

    Returns:
      Scalar float32 in [1, min(B - 1, D)]; 0 when every row is equal.
    """
    y = tf.cast(y, tf.float32)
    centred = y - tf.reduce_mean(y, axis=0, keepdims=True)
    singular = tf.linalg.svd(centred, compute_uv=False)
    total = tf.reduce_sum(singular)
    p = singular / tf.maximum(total, 1e-30)
    entropy = -tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p), p))
    return tf.where(total > 0, tf.exp(entropy), 0.0)


def dead_fraction(activations):
    """Scalar float32 fraction of units of `activations [B, U]` <= 0 on every row."""
    activations = tf.cast(activations, tf.float32)
    dead = tf.reduce_all(activations <= 0.0, axis=0)
    return tf.reduce_mean(tf.cast(dead, tf.float32))


def positive_negative_means(scores):
    """Mean critic score of positive pairs and of negative pairs.

    Args:
      scores: `[B, B, L]` critic scores; i == j are the positive pairs.

    Returns:
      (positive mean, negative mean): scalar float32 each.
    """
    scores = tf.cast(scores, tf.float32)
    rows = tf.shape(scores)[0]
    positive = tf.eye(rows, dtype=tf.float32)[:, :, None]
    locations = tf.cast(tf.shape(scores)[2], tf.float32)
    positives = tf.reduce_sum(scores * positive) / (
        tf.cast(rows, tf.float32) * locations
    )
    negatives = tf.reduce_sum(scores * (1.0 - positive)) / (
        tf.cast(rows * (rows - 1), tf.float32) * locations
    )
    return positives, negatives


def critic_scores(critic, features):
    """A critic's `[B, B, L]` float32 scores of a batch's encoder features (inference)."""
    local_emb, global_emb = critic.embed(
        features["local"], features["y"], training=False
    )
    return critic.pair_scores(global_emb, local_emb)


def health_scalars(features, local_critic=None, global_critic=None):
    """Every `health/` scalar of one batch.

    Args:
      features: the encoder's outputs for the batch (`"local"`, `"fc"`, `"y"`).
      local_critic, global_critic: the run's critics, or None.

    Returns:
      Dict `"health/NAME"` -> scalar float32 tensor.
    """
    scalars = {
        "health/y_std": y_std(features["y"]),
        "health/effective_rank": effective_rank(features["y"]),
        "health/dead_fc_fraction": dead_fraction(features["fc"]),
    }
    for prefix, critic in (("critic", local_critic), ("global_critic", global_critic)):
        if critic is not None:
            positive, negative = positive_negative_means(
                critic_scores(critic, features)
            )
            scalars[f"health/{prefix}_positive"] = positive
            scalars[f"health/{prefix}_negative"] = negative
    return scalars


# Calls `make_monitor`'s function runs eagerly before it switches to a graph.
EAGER_CALLS = 2


def make_monitor(encoder, local_critic=None, global_critic=None):
    """A function: images -> (encoder features, `health_scalars`), inference mode.

    The first `EAGER_CALLS` run eagerly: tracing costs more than a few eager
    calls, and only a run that logs often earns it back.

    Args:
      encoder: the run's encoder.
      local_critic, global_critic: the run's critics, or None.

    Returns:
      `monitor(images [B, S, S, C]) -> (features dict, scalars dict)`.
    """

    def measure(images):
        features = encoder(images, training=False)
        return features, health_scalars(features, local_critic, global_critic)

    compiled = tf.function(measure)
    calls = 0

    def monitor(images):
        nonlocal calls
        calls += 1
        return (measure if calls <= EAGER_CALLS else compiled)(images)

    return monitor
