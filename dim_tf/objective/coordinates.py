"""Coordinate prediction (the paper's Table 4): where on the grid is a local vector?"""

import tensorflow as tf


def coordinate_loss(head, local, y, replica):
    """Mean cross-entropy (float32 nats; log(M*M) at chance) over the global batch.

    Args:
      head: `CoordinateHead` with M*M positions.
      local, y: this replica's local features `[n, M, M, C]` and Y `[n, D]`.
      replica: `dim_tf.objective.dim_loss.ReplicaContext`.
    """
    logits = tf.cast(head(local, y), tf.float32)  # [n, P, P]
    rows, positions = tf.shape(logits)[0], tf.shape(logits)[1]
    labels = tf.broadcast_to(tf.range(positions)[None, :], [rows, positions])
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    count = tf.cast(rows * positions * replica.num_replicas, tf.float32)
    return replica.sum(tf.reduce_sum(cross_entropy)) / count
