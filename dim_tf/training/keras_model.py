"""`DeepInfoMax`: DIM as a `keras.Model` to `compile()` and `fit()` with callbacks.

Its `train_step` is the command line's step (`DimCore.replica_step`); the
options are config fields, checked by the config's own checks.
"""

import keras
import numpy as np
import tensorflow as tf

from dim_tf import config as config_lib
from dim_tf import input as input_names
from dim_tf.errors import UserError
from dim_tf.input import pipeline
from dim_tf.input import settings as input_settings
from dim_tf.input.model_input import raw_images_to_model_input
from dim_tf.models import settings as models_settings
from dim_tf.objective import dim_loss
from dim_tf.objective import settings as objective_settings
from dim_tf.training import core, optimizers
from dim_tf.training import settings as training_settings

_OBJECTIVE = (
    "mode",
    "estimator",
    "alpha",
    "beta",
    "gamma",
    "prior",
    "gradient_penalty",
    "views",
    "scales",
    "occlusion",
    "coordinates",
)
# DeepInfoMax option -> the config field it sets (docs/usage.md, Keras API).
OPTIONS = {
    **{name: f"objective.{name}" for name in _OBJECTIVE},
    "critic": "critic.kind",
    "critic_units": "critic.units",
    "global_units": "critic.global_units",
    "score_scale": "critic.score_scale",
    "score_clip": "critic.score_clip",
    "score_penalty": "critic.score_penalty",
    "augment": "augment.preset",
    **{knob: f"augment.{knob}" for knob in input_names.AUGMENT_KNOBS},
    "seed": "train.seed",
    "prior_learning_rate": "train.prior_learning_rate",
    "sync_batch_norm": "train.sync_batch_norm",
}


def options_config(options, encoder_name, image_shape):
    """The run config `options` set, checked as the command line checks it.

    Args:
      options: DeepInfoMax option -> value (`OPTIONS`).
      encoder_name: the encoder's name (a dim_tf encoder's checks its scales).
      image_shape: `(S, S, C)` the encoder takes.

    Raises:
      UserError: an unknown option or a bad value (the config's message).
    """
    config = config_lib.default_config()
    for name, value in options.items():
        if name not in OPTIONS:
            raise UserError(
                f"unknown DeepInfoMax option {name!r}; choose from "
                f"{', '.join(OPTIONS)}, prior_optimizer"
            )
        try:
            config.update_from_flattened_dict({OPTIONS[name]: value})
        except (TypeError, ValueError, KeyError):
            raise UserError(
                f"DeepInfoMax option {name}={value!r} does not fit {OPTIONS[name]} "
                f"(default {config_lib.flatten(config.to_dict())[OPTIONS[name]]!r})"
            ) from None
    config.encoder = encoder_name
    config.image_size, _, config.data.channels = image_shape
    objective_settings.check_objective(config)
    models_settings.check_critic(config)
    input_settings.check_augment(config)
    models_settings.check_score_options(config)
    training_settings.check_train(config)
    return config


def _image_shape(encoder):
    """`(S, S, C)` of the encoder's input; a one-line error unless square and fixed."""
    shape = tuple(encoder.inputs[0].shape[1:]) if encoder.inputs else ()
    if len(shape) != 3 or None in shape or shape[0] != shape[1]:
        raise UserError(
            f"DeepInfoMax needs an encoder with a fixed square input [S, S, C], "
            f"got {encoder.name} with input shape {shape}"
        )
    return tuple(int(d) for d in shape)


class DeepInfoMax(keras.Model):
    """Deep InfoMax around `encoder`, trained with `compile()` and `fit()`.

    Build and compile inside `strategy.scope()` to train on several replicas.
    `fit(images, ...)` takes pixel values in [0, 255] (uint8 as stored):
    a NumPy array `[N, H, W, C]` (batched here, the remainder dropped), or
    a `tf.data.Dataset` of such batches (or `(images, labels)`; labels
    unused) whose batches split evenly over the replicas. Images become
    model input as the command line's pipeline makes it. Logs the command
    line's metrics (`loss`, `mi/local`, ...). Not saveable as `.keras`
    itself (save the encoder); `BackupAndRestore` works (weights).

    Attributes:
      objective: the `DimCore` (its models by name: `objective.models`).
      encoder: the encoder being trained.
      critics: the critics (and coordinate head) of the objective.
      discriminator: the prior discriminator, or None.
      prior_optimizer: its optimizer, or None.
    """

    def __init__(
        self, encoder, *, prior_optimizer=None, name="deep_infomax", **options
    ):
        """Builds the objective's models (inside the strategy's scope, if any).

        Args:
          encoder: a `keras.Model`, float images `[B, S, S, C]` in [-1, 1] ->
            dict with "local" `[B, M, M, C_local]` and "y" `[B, D_y]` (and
            "conv", "fc"), as `dim_tf.models.encoders.build_encoder` gives.
          prior_optimizer: the discriminator's; None = the command line's Adam.
          name: the model's name.
          **options: config fields by `OPTIONS` name: `mode`, `estimator`,
            `alpha`, `beta`, `gamma` (None = the mode's paper weights),
            `prior`, `critic` (kind), `critic_units`, `score_scale`, `views`,
            `augment` (preset), `seed`, ...; unset = the config's defaults.

        Raises:
          UserError: a bad option, or an encoder input that is not `[S, S, C]`.
        """
        image_shape = _image_shape(encoder)
        config = options_config(options, encoder.name, image_shape)
        super().__init__(name=name)
        self._image_shape = image_shape
        strategy = tf.distribute.get_strategy()
        sync = config.train.sync_batch_norm and strategy.num_replicas_in_sync > 1
        self.objective = core.DimCore(
            encoder,
            objective=config.objective,
            critic=config.critic,
            seed=config.train.seed,
            image_shape=image_shape,
            dtype=encoder.dtype_policy.name,
            sync_batch_norm=sync,
        )
        self._seed = config.train.seed
        self._make_views = pipeline.view_maker(
            config.data, config.augment, config.objective.views, image_shape[0]
        )
        # Attributes, so Keras tracks their weights (BackupAndRestore saves them).
        self.encoder = encoder
        self.critics = [
            model
            for key, model in self.objective.models.items()
            if key not in ("encoder", "discriminator")
        ]
        self.discriminator = self.objective.discriminator
        self.prior_optimizer = None
        if self.discriminator is not None:
            self.prior_optimizer = prior_optimizer or optimizers.make_adam(
                config.train.prior_learning_rate, config.train
            )
            if not self.prior_optimizer.built:
                self.prior_optimizer.build(self.discriminator.trainable_variables)
        self.objective.prior_optimizer = self.prior_optimizer
        self._trackers = [
            keras.metrics.Mean(name=metric, dtype="float32")
            for metric in self.objective.metric_names()
        ]
        self.built = True

    def compile(self, optimizer=None, jit_compile=False, **kwargs):
        """`keras.Model.compile`; optimizer None = the command line's Adam.

        XLA is off by default: the step's cross-replica sums need it off on
        several replicas.
        """
        if optimizer is None:
            train = config_lib.default_config().train
            optimizer = optimizers.make_adam(train.learning_rate, train)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        with self.distribute_strategy.scope():
            self.optimizer.build(self.objective.trainable_variables)
        self.objective.optimizer = self.optimizer

    @property
    def metrics(self):
        """The step's metrics as running means (Keras resets them every epoch)."""
        return list(self._trackers)

    def call(self, images, training=False):
        """The encoder's outputs of raw images `[B, H, W, C]` in [0, 255]."""
        return self.encoder(self._model_input(images), training=training)

    def _model_input(self, images, step=None):
        """Raw images -> model input, augmented (seeded by step and row) when asked."""
        size, _, channels = self._image_shape
        if self._make_views is None or step is None:
            return raw_images_to_model_input(images, size, channels=channels)
        rows = tf.shape(images)[0]
        first = dim_loss.ReplicaContext().row_offset(rows)
        step_seed = tf.random.experimental.stateless_fold_in(
            tf.constant([self._seed, 0], tf.int64), tf.cast(step, tf.int64)
        )
        seeds = tf.map_fn(
            lambda row: tf.random.experimental.stateless_fold_in(step_seed, row),
            tf.cast(first + tf.range(rows), tf.int64),
            fn_output_signature=tf.TensorSpec([2], tf.int64),
        )
        shape = self.objective.example_shape(self._image_shape)
        return tf.map_fn(
            lambda args: self._make_views(*args),
            (images, seeds),
            fn_output_signature=tf.TensorSpec(shape, tf.float32),
        )

    def train_step(self, data):
        """One step of the command line's objective on a replica's batch."""
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        step = self.optimizer.iterations
        metrics = self.objective.replica_step(self._model_input(images, step), step)
        for tracker in self._trackers:
            tracker.update_state(metrics[tracker.name])
        return {tracker.name: tracker.result() for tracker in self._trackers}

    def fit(self, x=None, y=None, batch_size=None, *args, shuffle=True, **kwargs):
        """`keras.Model.fit` on images; `y` is ignored (DIM uses no labels).

        A NumPy array becomes whole batches of `batch_size` (32 if None),
        reshuffled every epoch when `shuffle`.
        """
        del y
        if x is not None and not isinstance(x, tf.data.Dataset):
            x = self._array_batches(np.asarray(x), batch_size or 32, shuffle)
            batch_size = None
        # Arrays are shuffled above; a dataset comes shuffled as its user wants.
        return super().fit(x, None, batch_size, *args, shuffle=False, **kwargs)

    def _array_batches(self, images, batch_size, shuffle):
        if len(images) < batch_size:
            raise UserError(
                f"DeepInfoMax.fit got {len(images)} images, fewer than one batch "
                f"of {batch_size}; pass more images or a smaller batch_size"
            )
        dataset = tf.data.Dataset.from_tensor_slices(images)
        if shuffle:
            dataset = dataset.shuffle(len(images), seed=self._seed)
        return dataset.batch(batch_size, drop_remainder=True)
