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
from dim_tf.input.model_input import check_pixels, raw_images_to_model_input
from dim_tf.models import settings as models_settings
from dim_tf.objective import dim_loss, parse_scales
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


# The dtype of the encoder's "y" -> the critics' policy (float32 otherwise).
_POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def _encoder_features(encoder, image_shape, scales):
    """The encoder's outputs on zeros; a one-line error unless DIM can use them."""
    features = encoder(tf.zeros((2, *image_shape)), training=False)
    ranks, returns = {}, type(features).__name__
    if isinstance(features, dict):
        ranks = {key: len(value.shape) for key, value in features.items()}
        returns = f"a dict of ranks {ranks}"
    if ranks.get("local") != 4 or ranks.get("y") != 2:
        raise UserError(
            f"DeepInfoMax needs an encoder returning a dict with 'local' "
            f"[B, M, M, C] and 'y' [B, D]; {encoder.name} returns {returns} "
            "(wrap a plain backbone with "
            "dim_tf.models.backbones.encoder_from_backbone)"
        )
    missing = core.missing_scale_map(parse_scales(scales), features)
    if missing:
        raise UserError(missing)
    return features


def _check_strategy(optimizer, strategy, what):
    """A one-line error when `optimizer` was made under another strategy."""
    made_in = getattr(optimizer, "_distribution_strategy", strategy)
    if made_in is not strategy:
        raise UserError(
            f"DeepInfoMax's {what} was made under another tf.distribute strategy "
            "than the model; make it inside the model's strategy.scope()"
        )


class DeepInfoMax(keras.Model):
    """Deep InfoMax around `encoder`, trained with `compile()` and `fit()`.

    Build inside `strategy.scope()` to train on several replicas.
    `fit(images, ...)` takes pixel values in [0, 255] (uint8 as stored):
    a NumPy array `[N, H, W, C]` (batched here, the remainder dropped), or
    a `tf.data.Dataset` of integer batches (or `(images, labels)`; labels
    unused), on several replicas of a static size that splits over them.
    Images become model input as the command line's pipeline makes it.
    Logs the command line's metrics (`loss`, `mi/local`, ...). Not saveable
    as `.keras` itself (save the encoder); `BackupAndRestore` works (weights).

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
            "conv", "fc"), as `dim_tf.models.encoders.build_encoder` gives. Its
            BatchNorm over replicas is its own (`sync_batch_norm=True` there).
          prior_optimizer: the discriminator's; None = the command line's Adam
            (refused without a discriminator: prior="none" or gamma=0).
          name: the model's name.
          **options: config fields by `OPTIONS` name: `mode`, `estimator`,
            `alpha`, `beta`, `gamma` (None = the mode's paper weights),
            `prior`, `critic` (kind), `critic_units`, `score_scale`, `views`,
            `augment` (preset), `seed`, ...; unset = the config's defaults.

        Raises:
          UserError: a bad option, an encoder input that is not `[S, S, C]`,
            outputs without "local" and "y", or a `scales` map it lacks.
        """
        image_shape = _image_shape(encoder)
        config = options_config(options, encoder.name, image_shape)
        features = _encoder_features(encoder, image_shape, config.objective.scales)
        super().__init__(name=name)
        self._image_shape = image_shape
        # A model's policy is the global one: the outputs show the encoder's.
        policy = _POLICIES.get(features["y"].dtype.name, "float32")
        self._loss_scaled = policy == "mixed_float16"
        strategy = tf.distribute.get_strategy()
        sync = config.train.sync_batch_norm and strategy.num_replicas_in_sync > 1
        self.objective = core.DimCore(
            encoder,
            objective=config.objective,
            critic=config.critic,
            seed=config.train.seed,
            image_shape=image_shape,
            dtype=policy,
            sync_batch_norm=sync,
            features=features,
        )
        self._seed = config.train.seed
        self._make_views = pipeline.view_maker(
            config.data, config.augment, config.objective.views, image_shape[0]
        )
        # Random resized crops have no XLA kernel (StatelessSampleDistortedBoundingBox).
        self._random_crops = (
            self._make_views is not None
            and input_names.resolve_augmentation(
                config.augment, config.data
            ).resized_crop
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
        if self.discriminator is None and prior_optimizer is not None:
            raise UserError(
                "DeepInfoMax got a prior_optimizer but has no prior discriminator "
                f"(prior={config.objective.prior!r}); leave prior_optimizer unset"
            )
        if self.discriminator is not None:
            if prior_optimizer is not None:
                _check_strategy(prior_optimizer, strategy, "prior_optimizer")
            # The discriminator is float32: its loss needs no scaling.
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

        Under a mixed_float16 encoder the optimizer is wrapped in a
        `LossScaleOptimizer`. XLA is off by default: the step's cross-replica
        sums need it off on several replicas.

        Raises:
          UserError: `jit_compile` on several replicas or with random resized
            crops, or an optimizer made under another strategy.
        """
        strategy = self.distribute_strategy
        replicas = strategy.num_replicas_in_sync
        if jit_compile and replicas > 1:
            raise UserError(
                f"DeepInfoMax.compile(jit_compile={jit_compile!r}) needs one "
                f"replica, found {replicas}; compile with jit_compile=False or "
                "train under a one-device strategy"
            )
        if jit_compile and self._random_crops:
            raise UserError(
                f"DeepInfoMax.compile(jit_compile={jit_compile!r}) cannot compile "
                "the views' random resized crops (no XLA kernel); compile with "
                "jit_compile=False or use an augment preset without them "
                "(such as flip_crop)"
            )
        if optimizer is not None and not isinstance(optimizer, str | dict):
            _check_strategy(optimizer, strategy, "optimizer")
        # Under the model's strategy, as its variables are (compile may be outside).
        with strategy.scope():
            if optimizer is None:
                train = config_lib.default_config().train
                optimizer = optimizers.make_adam(
                    train.learning_rate, train, loss_scaled=self._loss_scaled
                )
            optimizer = keras.optimizers.get(optimizer)
            if self._loss_scaled and not isinstance(
                optimizer, keras.optimizers.LossScaleOptimizer
            ):
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
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
            tf.constant([self._seed, 0], tf.int64),
            tf.cast(step, tf.int64),
            alg="philox",
        )
        seeds = tf.map_fn(
            lambda row: tf.random.experimental.stateless_fold_in(
                step_seed, row, alg="philox"
            ),
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
        reshuffled every epoch when `shuffle`. A dataset's images must be
        integers: checking a float dataset's range would take a pass over it.

        Raises:
          UserError: images that are not pixels `[N, H, W, C]` in [0, 255],
            batches that do not split over the replicas, or validation.
        """
        del y
        # Keras's positional order: ..., callbacks, validation_split, validation_data.
        split = kwargs.get("validation_split", args[3] if len(args) > 3 else 0)
        data = kwargs.get("validation_data", args[4] if len(args) > 4 else None)
        if split or data is not None:
            raise UserError(
                "DeepInfoMax has no validation step; use KNNMonitor or bin/evaluate"
            )
        replicas = self.distribute_strategy.num_replicas_in_sync
        if isinstance(x, tf.data.Dataset):
            _check_dataset(x, replicas)
        elif x is not None:
            x = self._array_batches(np.asarray(x), batch_size or 32, shuffle, replicas)
            batch_size = None
        # Arrays are shuffled above; a dataset comes shuffled as its user wants.
        return super().fit(x, None, batch_size, *args, shuffle=False, **kwargs)

    def _array_batches(self, images, batch_size, shuffle, replicas):
        if images.ndim != 4:
            raise UserError(
                f"DeepInfoMax.fit takes images [N, H, W, C]; got shape {images.shape}"
            )
        if batch_size % replicas:
            raise UserError(
                f"DeepInfoMax.fit batch_size {batch_size} cannot be split over "
                f"{replicas} replicas; use a multiple of {replicas}"
            )
        if len(images) < batch_size:
            raise UserError(
                f"DeepInfoMax.fit got {len(images)} images, fewer than one batch "
                f"of {batch_size}; pass more images or a smaller batch_size"
            )
        check_pixels(images, "DeepInfoMax.fit")
        dataset = tf.data.Dataset.from_tensor_slices(images)
        if shuffle:
            dataset = dataset.shuffle(len(images), seed=self._seed)
        return dataset.batch(batch_size, drop_remainder=True)


def _check_dataset(dataset, replicas):
    """A one-line error unless `dataset` gives integer image batches that split."""
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    shape = getattr(spec, "shape", None)
    if shape is None or shape.rank != 4:
        raise UserError(
            f"DeepInfoMax.fit takes a dataset of image batches [B, H, W, C] (or "
            f"(images, labels)); got elements {spec} (batch it with "
            "dataset.batch(B, drop_remainder=True))"
        )
    if not spec.dtype.is_integer:
        raise UserError(
            "DeepInfoMax.fit takes pixel values in [0, 255] (uint8, as the "
            f"datasets store them); got a dataset of {spec.dtype.name} images "
            "(map them to uint8 pixels)"
        )
    if replicas > 1 and (shape[0] is None or shape[0] % replicas):
        raise UserError(
            f"DeepInfoMax.fit's dataset batches of {shape[0]} do not split over "
            f"{replicas} replicas; batch with a multiple of {replicas} and "
            "drop_remainder=True"
        )
