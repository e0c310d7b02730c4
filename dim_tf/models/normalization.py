"""BatchNorm and LayerNorm for the critics' large activation matrices, CPU-fast.

Drop-in subclasses of the Keras layers (same variables, results and moving
statistics), channels-last. TensorFlow's CPU reduction over the leading axis of
`[R, C]` is single-threaded, so column sums are matmuls with a ones vector and
the gradients are written out. Arithmetic in float32, output in the compute dtype.
"""

import keras
import tensorflow as tf


def _column_sums(x):
    """`[R, C]` -> `[C]`: the sum over rows, as one matrix product."""
    ones = tf.ones([1, tf.shape(x)[0]], x.dtype)
    return tf.reshape(tf.matmul(ones, x), [-1])


def _rows(inputs):
    """`[..., C]` -> float32 `[R, C]`."""
    return tf.reshape(tf.cast(inputs, tf.float32), [-1, inputs.shape[-1]])


@tf.custom_gradient
def _batch_norm_train(x, gamma, beta, epsilon):
    """Batch normalisation of the columns of `x` with its own statistics.

    Args:
      x: float32 `[R, C]`.
      gamma, beta: float32 `[C]`.
      epsilon: float32 scalar.

    Returns:
      (normalised `[R, C]`, batch mean `[C]`, biased batch variance `[C]`);
      the statistics carry no gradient (they feed the moving averages).
    """
    count = tf.cast(tf.shape(x)[0], x.dtype)
    mean = _column_sums(x) / count
    centred = x - mean
    variance = _column_sums(tf.square(centred)) / count
    inv = tf.math.rsqrt(variance + epsilon)
    y = centred * (gamma * inv) + beta

    def grad(dy, unused_dmean, unused_dvariance):
        # n = centred * inv: dbeta = sum dy, dgamma = sum dy * n,
        # dx = gamma inv (dy - (dbeta + n dgamma) / count).
        dbeta = _column_sums(dy)
        dgamma = _column_sums(dy * centred) * inv
        scale = gamma * inv
        dx = dy * scale + centred * (-scale * inv * dgamma / count)
        dx += -scale * dbeta / count
        return dx, dgamma, dbeta, tf.zeros_like(epsilon)

    return (y, tf.stop_gradient(mean), tf.stop_gradient(variance)), grad


def _row_means(x, weights):
    """`[R, C]`, `[C]` -> `[R, 1]`: the mean over columns of `x * weights`."""
    return tf.matmul(x, weights[:, None]) / tf.cast(tf.shape(x)[1], x.dtype)


@tf.custom_gradient
def _layer_norm(x, gamma, beta, epsilon):
    """Layer normalisation of the rows of float32 `x [R, C]`."""
    mean = tf.reduce_mean(x, axis=1, keepdims=True)
    centred = x - mean
    inv = tf.math.rsqrt(
        tf.reduce_mean(tf.square(centred), axis=1, keepdims=True) + epsilon
    )
    normalised = centred * inv
    y = normalised * gamma + beta

    def grad(dy):
        # dx = inv (g dy - mean_c(g dy) - n mean_c(g dy n)); row means as matmuls.
        dy_normalised = dy * normalised
        dx = (dy * gamma - _row_means(dy, gamma)) * inv
        dx -= normalised * (inv * _row_means(dy_normalised, gamma))
        dgamma = _column_sums(dy_normalised)
        return dx, dgamma, _column_sums(dy), tf.zeros_like(epsilon)

    return y, grad


@keras.saving.register_keras_serializable(package="dim_tf")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` over the last axis, with fast training.

    Fast path: training, unsynchronised, scale and centre, no mask or renorm.
    """

    def call(self, inputs, training=None, mask=None):
        fast = (
            training
            and self.trainable
            and not self.synchronized
            and mask is None
            and not self.renorm
            and self.scale
            and self.center
            and self.axis in (-1, len(inputs.shape) - 1)
        )
        if not fast:
            return super().call(inputs, training=training, mask=mask)
        y, mean, variance = _batch_norm_train(
            _rows(inputs),
            tf.cast(self.gamma, tf.float32),
            tf.cast(self.beta, tf.float32),
            tf.constant(self.epsilon, tf.float32),
        )
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1 - momentum))
        self.moving_variance.assign(
            self.moving_variance * momentum + variance * (1 - momentum)
        )
        return tf.cast(tf.reshape(y, tf.shape(inputs)), self.compute_dtype)


@keras.saving.register_keras_serializable(package="dim_tf")
class LayerNormalization(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` over the last axis, with a fast gradient.

    Fast path: scale and centre over the last axis only.
    """

    def call(self, inputs):
        axis = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        fast = (
            self.scale
            and self.center
            and not self.rms_scaling
            and list(axis) in ([-1], [len(inputs.shape) - 1])
        )
        if not fast:
            return super().call(inputs)
        y = _layer_norm(
            _rows(inputs),
            tf.cast(self.gamma, tf.float32),
            tf.cast(self.beta, tf.float32),
            tf.constant(self.epsilon, tf.float32),
        )
        return tf.cast(tf.reshape(y, tf.shape(inputs)), self.compute_dtype)
