"""Adam with one fused kernel per variable.

Keras's Adam makes about a dozen memory passes per variable; TensorFlow's
`ResourceApplyAdam` kernel makes one.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dim_tf")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` (same variables, same updates), fused per variable.

    Keras's update, `m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`,
    `w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)`, is exactly
    `ResourceApplyAdam`'s. AMSGrad falls back to Keras's code.
    """

    def update_step(self, gradient, variable, learning_rate):
        """Updates one variable (a `tf.Variable`, or a replica's component)."""
        if self.amsgrad or not hasattr(variable, "handle"):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        momentum = self._momentums[index].value
        velocity = self._velocities[index].value
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)

        def constant(value):
            return tf.cast(value, dtype)

        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=momentum.handle,
            v=velocity.handle,
            beta1_power=tf.pow(constant(self.beta_1), step),
            beta2_power=tf.pow(constant(self.beta_2), step),
            lr=constant(learning_rate),
            beta1=constant(self.beta_1),
            beta2=constant(self.beta_2),
            epsilon=constant(self.epsilon),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def make_adam(learning_rate, train, loss_scaled=False):
    """`FusedAdam` with the `train` section's betas, loss-scaled when asked.

    Args:
      learning_rate: its learning rate.
      train: the `train` config section (`beta1`, `beta2`).
      loss_scaled: wrap it in a `LossScaleOptimizer` (mixed_float16).
    """
    adam = FusedAdam(learning_rate, beta_1=train.beta1, beta_2=train.beta2)
    return keras.optimizers.LossScaleOptimizer(adam) if loss_scaled else adam
