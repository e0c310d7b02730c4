"""Coordinate prediction (the paper's Table 4): where on the grid is this local vector?

The auxiliary loss of `objective.coordinates`: a head
(`dim_tf.models.coordinate_head`) classifies each local vector's position
among the M*M grid cells from the vector and Y; the loss is the mean
cross-entropy, in nats, over the global batch.
"""

import tensorflow as tf


def coordinate_loss(head, local, y, replica):
    """Mean cross-entropy of the head's position predictions over the global batch.

    Args:
      head: `CoordinateHead` with M*M positions.
      local: `[n, M, M, C]` local features of this replica's images.
      y: `[n, D]` their global vectors.
      replica: `dim_tf.objective.dim_loss.ReplicaContext`.

    Returns:
      Scalar float32, equal on every replica (log(M*M) for a head at chance).
    """
    logits = tf.cast(head(local, y), tf.float32)  # [n, P, P]
    rows, positions = tf.shape(logits)[0], tf.shape(logits)[1]
    labels = tf.broadcast_to(tf.range(positions)[None, :], [rows, positions])
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    count = tf.cast(rows * positions * replica.num_replicas, tf.float32)
    return replica.sum(tf.reduce_sum(cross_entropy)) / count
