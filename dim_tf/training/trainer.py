"""The command line's DIM run: models, optimizers and the `tf.function` loop of steps.

Create `Trainer` inside `strategy.scope()`: it builds every variable and both
optimizers there, as a Keras 3 optimizer built lazily inside the first
distributed step fails. A step (`DimCore.replica_step`) updates encoder +
critics on the DIM loss, then the prior discriminator on the same detached
codes with its own Adam.
"""

import keras
import tensorflow as tf

from dim_tf.input import read_errors
from dim_tf.models import encoders
from dim_tf.training import core, optimizers, precision


class Trainer(core.DimCore):
    """Models, optimizers and the step function of one DIM run.

    Attributes (besides `DimCore`'s):
      precision: `precision.Resolved`, the dtype policy computed in and why.
      optimizer: Adam (loss-scaled under mixed_float16) of encoder + critics.
      prior_optimizer: Adam of the discriminator, or None.
      step: int64 variable, training steps done.
      train_seconds: float64 variable, seconds of training done.
    """

    def __init__(
        self,
        *,
        encoder,
        y_dim,
        objective,
        critic,
        train,
        image_shape,
        strategy,
        backbone=None,
    ):
        """Builds models and optimizers; call inside `strategy.scope()`.

        Args:
          encoder: encoder name (`dim_tf.models.ENCODERS`) or backbone spec.
          y_dim: size of the global feature Y.
          objective: the `objective` config section.
          critic: the `critic` config section.
          train: the `train` config section.
          image_shape: `(S, S, C)` of the images the encoder takes.
          strategy: the `tf.distribute.Strategy` the step runs under.
          backbone: the `backbone` config section (a backbone spec's layers
            and weights).
        """
        self.train_config = train
        self.strategy = strategy
        self.precision = precision.resolve(train.precision)
        dtype = self.precision.policy
        # One replica: statistics are global already, Keras's sync path costs more.
        sync = train.sync_batch_norm and strategy.num_replicas_in_sync > 1
        super().__init__(
            encoders.build_encoder(
                encoder,
                image_shape,
                y_dim,
                dtype=dtype,
                sync_batch_norm=sync,
                backbone=backbone,
            ),
            objective=objective,
            critic=critic,
            seed=train.seed,
            image_shape=image_shape,
            dtype=dtype,
            sync_batch_norm=sync,
        )
        if self.discriminator is not None:
            self.prior_optimizer = optimizers.make_adam(
                train.prior_learning_rate, train
            )
            self.prior_optimizer.build(self.discriminator.trainable_variables)
        self.optimizer = optimizers.make_adam(
            train.learning_rate, train, loss_scaled=dtype == "mixed_float16"
        )
        self.optimizer.build(self.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Seconds trained, for `train.max_minutes` across resumes.
        self.train_seconds = tf.Variable(
            0.0, dtype=tf.float64, trainable=False, name="train_seconds"
        )
        # The running means of one `train_steps` call (reset at its start).
        self._means = {
            name: keras.metrics.Mean(name=name, dtype="float32")
            for name in self.metric_names()
        }
        # XLA compiles the per-replica maths; the loop and the cross-replica
        # plumbing stay in the outer function. A nested tf.function cannot
        # hold cross-replica sums, so XLA needs a single replica (checked in
        # dim_tf.training.settings.check_replicas).
        if train.jit_compile:
            self._losses_and_gradients = tf.function(
                self.losses_and_gradients, jit_compile=True
            )
        self._train_steps = tf.function(self._train_steps_fn)

    def checkpoint_items(self):
        """Everything a checkpoint must hold to resume exactly."""
        items = dict(
            self.models,
            optimizer=self.optimizer,
            step=self.step,
            train_seconds=self.train_seconds,
        )
        if self.prior_optimizer is not None:
            items["prior_optimizer"] = self.prior_optimizer
        return items

    def _train_steps_fn(self, iterator, num_steps):
        for mean in self._means.values():
            mean.reset_state()
        first_bad_step = tf.constant(-1, tf.int64)
        for i in tf.range(tf.cast(num_steps, tf.int64)):
            step = self.step + i
            per_replica = self.strategy.run(
                self.replica_step, args=(next(iterator), step)
            )
            metrics = {
                name: self.strategy.reduce("mean", value, axis=None)
                for name, value in per_replica.items()
            }
            finite = tf.math.is_finite(metrics["loss"])
            first_bad_step = tf.where(
                (first_bad_step < 0) & tf.logical_not(finite), step, first_bad_step
            )
            for name, mean in self._means.items():
                mean.update_state(metrics[name])
        self.step.assign_add(tf.cast(num_steps, tf.int64))
        means = {name: mean.result() for name, mean in self._means.items()}
        return means, first_bad_step

    def train_steps(self, iterator, num_steps):
        """Runs `num_steps` steps in one `tf.function` call.

        Args:
          iterator: iterator of a distributed dataset of image batches.
          num_steps: how many steps (a Python int; not retraced per value).

        Returns:
          (metrics averaged over the steps: dict of float32 scalars,
           int64 scalar: the first step whose loss was not finite, or -1).

        Raises:
          UserError: the input pipeline could not read or decode the dataset.
        """
        with read_errors.reading("training data"):
            return self._train_steps(iterator, tf.constant(num_steps, tf.int64))
