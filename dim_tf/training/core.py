"""The DIM objective around one encoder: its critics, prior discriminator and step.

The command line's `Trainer` and the Keras `DeepInfoMax` both train through
`DimCore.replica_step`, so the two share one objective.
"""

import keras
import tensorflow as tf

from dim_tf.models import coordinate_head, critics, priors, scale_critics
from dim_tf.objective import (
    ENCODER_LOCAL_MAP,
    GLOBAL_SOURCE,
    coordinates,
    dim_loss,
    parse_scales,
    resolve_weights,
    view_terms,
)


def missing_scale_map(pairs, features):
    """The message naming a pair's map `features` lacks, or None.

    Args:
      pairs: `ScalePair`s of `objective.scales`.
      features: the encoder's outputs, name -> tensor.
    """
    for pair in pairs:
        if pair.target not in features or pair.source not in features:
            maps = sorted(k for k in features if k not in ("fc", "y"))
            return (
                f"objective.scales pair {pair.source}:{pair.target}: the "
                f"encoder has no such map; its maps are {', '.join(maps)}"
            )
    return None


class DimCore:
    """The models of the DIM objective around an encoder, and one replica's step.

    Build inside `strategy.scope()`. The owner sets `optimizer` (encoder +
    critics) and `prior_optimizer` (the discriminator's, when there is one)
    before the first step.

    Attributes:
      encoder, local_critic, global_critic, discriminator: Keras models (the
        critics and discriminator are None when the objective does not use them).
      pair_critics: list of `(ScalePair, critic)` of `objective.scales`; the
        pair "y:local" uses `local_critic`.
      coordinate_head: the head of `objective.coordinates`, or None.
      optimizer: of encoder + critics (a LossScaleOptimizer scales the loss).
      prior_optimizer: of the discriminator, or None.
    """

    def __init__(
        self,
        encoder,
        *,
        objective,
        critic,
        seed,
        image_shape,
        dtype,
        sync_batch_norm,
        features=None,
    ):
        """Builds the critics, the coordinate head and the prior discriminator.

        Args:
          encoder: a built `keras.Model`, images `[B, S, S, C]` in [-1, 1] ->
            dict with at least "local" `[B, M, M, C_local]` and "y" `[B, D_y]`.
          objective: the `objective` config section.
          critic: the `critic` config section.
          seed: the run's seed (`train.seed`): prior samples and occlusions.
          image_shape: `(S, S, C)` of the images the encoder takes.
          dtype: Keras dtype policy name of the critics.
          sync_batch_norm: the critics' BatchNorm statistics over all replicas.
          features: the encoder's outputs on a batch of images `image_shape`,
            or None to compute them (they give the critics' input shapes).

        Raises:
          ValueError: an `objective.scales` map the encoder does not output.
        """
        self.encoder = encoder
        self.seed = seed
        self.weights = resolve_weights(objective)
        self.estimator = objective.estimator
        self.prior_name = objective.prior
        self.score_penalty = float(critic.score_penalty)
        self.gradient_penalty = objective.gradient_penalty
        self.views = objective.views
        self.occlusion = objective.occlusion
        self.coordinates_weight = objective.coordinates
        if features is None:
            features = encoder(tf.zeros((2, *image_shape)), training=False)
        local_shape = features["local"].shape[1:]
        y_shape = features["y"].shape[1:]
        self._code_dim = y_shape[-1]
        self.local_critic = self.global_critic = self.coordinate_head = None
        self.pair_critics = []
        if self.weights.beta > 0:
            self.pair_critics = self._build_pair_critics(
                parse_scales(objective.scales), features, critic, dtype, sync_batch_norm
            )
        if self.weights.alpha > 0:
            self.global_critic = critics.build_global_critic(
                critic.global_units, dtype=dtype, score_clip=critic.score_clip
            )
            self.global_critic.build_from_shapes(local_shape, y_shape)
        if self.coordinates_weight > 0:
            self.coordinate_head = coordinate_head.CoordinateHead(
                local_shape[0] * local_shape[1], dtype=dtype
            )
            self.coordinate_head.build_from_shapes(local_shape, y_shape)
        priors.check_prior(self.prior_name)
        self.discriminator = None
        if self.prior_name != "none" and self.weights.gamma > 0:
            self.discriminator = priors.build_discriminator(y_shape[-1])
        self.optimizer = self.prior_optimizer = None
        # Owners may swap in an XLA-compiled version (`train.jit_compile`).
        self._losses_and_gradients = self.losses_and_gradients

    def _build_pair_critics(self, pairs, features, critic, dtype, sync):
        """`[(ScalePair, critic)]`; "y:local" is `self.local_critic`, the paper's."""
        missing = missing_scale_map(pairs, features)
        if missing:
            raise ValueError(missing)
        built = []
        for pair in pairs:
            model = scale_critics.build_pair_critic(
                features[pair.target].shape[1:],
                features[pair.source].shape[1:],
                critic,
                dtype,
                sync,
                name=f"critic_{pair.source}_{pair.target}",
            )
            if (pair.source, pair.target) == (GLOBAL_SOURCE, ENCODER_LOCAL_MAP):
                self.local_critic = model
            built.append((pair, model))
        return built

    def example_shape(self, image_shape):
        """An example's shape: `image_shape` or `(V, *image_shape)` with V > 1 views."""
        return tuple(image_shape) if self.views == 1 else (self.views, *image_shape)

    @property
    def models(self):
        """Name -> model, for every model this objective uses."""
        named = {
            "encoder": self.encoder,
            "local_critic": self.local_critic,
            "global_critic": self.global_critic,
            "discriminator": self.discriminator,
            "coordinate_head": self.coordinate_head,
        }
        for pair, critic in self.pair_critics:
            if critic is not self.local_critic:
                named[f"critic_{pair.source}_{pair.target}"] = critic
        return {name: model for name, model in named.items() if model is not None}

    @property
    def trainable_variables(self):
        """Variables of the encoder and critics (not the discriminator)."""
        variables = list(self.encoder.trainable_variables)
        for name, model in self.models.items():
            if name not in ("encoder", "discriminator"):
                variables += model.trainable_variables
        return variables

    def metric_names(self):
        """Keys of the metrics dict the step returns."""
        names = ["loss"]
        if self.weights.beta > 0:
            names.append("mi/local")
            if len(self.pair_critics) > 1:
                names += [f"mi/{pair.name}" for pair, _ in self.pair_critics]
        if self.weights.alpha > 0:
            names.append("mi/global")
        if self.score_penalty > 0:
            names.append(dim_loss.SCORE_PENALTY)
        if self.discriminator is not None:
            names += [
                "prior/encoder_loss",
                "prior/discriminator_loss",
                "prior/gradient_penalty",
            ]
        if self.coordinate_head is not None:
            names.append("aux/coordinates_loss")
        return names

    def losses_and_gradients(self, images, step):
        """One replica's losses and gradients for its share of a global batch.

        Losses are divided by the replica count because Keras optimizers sum
        gradients over replicas.

        Args:
          images: `[n, S, S, C]` float32 in [-1, 1], this replica's share, or
            `[n, V, S, S, C]` with V augmented views.
          step: int64 scalar, seeds the prior's samples and the occlusions.

        Returns:
          (metrics dict of scalar float32 global-batch values on this replica,
           gradients of encoder + critics, gradients of the discriminator or None).
        """
        replica = dim_loss.ReplicaContext()
        scale = 1.0 / replica.num_replicas
        with tf.GradientTape() as tape:
            views = view_terms.encode_views(
                self.encoder,
                images,
                self.views,
                self.occlusion,
                self._step_seed(step, 1),
                replica,
            )
            features = views[0]
            metrics = view_terms.mi_terms(
                views,
                self.pair_critics,
                self.global_critic,
                self.weights,
                self.estimator,
                replica,
                self.score_penalty,
            )
            prior_loss = None
            if self.discriminator is not None:
                codes = priors.code_for_prior(self.prior_name, features["y"])
                prior_loss = priors.encoder_prior_loss(self.discriminator, codes)
                metrics["prior/encoder_loss"] = prior_loss
            loss = dim_loss.encoder_loss(metrics, prior_loss, self.weights)
            if self.coordinate_head is not None:
                aux = tf.add_n(
                    [
                        coordinates.coordinate_loss(
                            self.coordinate_head, view["local"], view["y"], replica
                        )
                        for view in views
                    ]
                ) / len(views)
                metrics["aux/coordinates_loss"] = aux
                loss += self.coordinates_weight * aux
            replica_loss = loss * scale
            if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
                replica_loss = self.optimizer.scale_loss(replica_loss)
        metrics["loss"] = loss
        gradients = tape.gradient(replica_loss, self.trainable_variables)
        prior_gradients = None
        if self.discriminator is not None:
            real = self._prior_samples(tf.shape(codes)[0], step, replica)
            with tf.GradientTape() as prior_tape:
                prior_loss, prior_metrics = priors.discriminator_loss(
                    self.discriminator,
                    real,
                    tf.stop_gradient(codes),
                    self.gradient_penalty,
                )
                replica_prior_loss = prior_loss * scale
            prior_gradients = prior_tape.gradient(
                replica_prior_loss, self.discriminator.trainable_variables
            )
            metrics.update(prior_metrics)
        return metrics, gradients, prior_gradients

    def _prior_samples(self, rows, step, replica):
        """This replica's rows of a global batch of prior samples."""
        samples = priors.sample_prior(
            self.prior_name,
            rows * replica.num_replicas,
            self._code_dim,
            self._step_seed(step),
        )
        start = replica.row_offset(rows)
        return samples[start : start + rows]

    def _step_seed(self, step, stream=0):
        """int32 `[2]` from (run seed, step), stream k > 0 folded in (0: prior's).

        Every draw of the step names Philox: XLA's default algorithm is not the
        CPU's, and `train.jit_compile` must not change the random numbers.
        """
        seed = tf.stack([tf.cast(self.seed, tf.int32), tf.cast(step, tf.int32)])
        if stream:
            seed = tf.random.experimental.stateless_fold_in(seed, stream, alg="philox")
        return seed

    def replica_step(self, images, step):
        """One replica's training step: losses, then both optimizers' updates.

        Call in a replica context (`strategy.run`, or Keras's `train_step`).

        Args:
          images, step: as `losses_and_gradients`.

        Returns:
          The metrics dict of `losses_and_gradients`.
        """
        metrics, gradients, prior_gradients = self._losses_and_gradients(images, step)
        self.optimizer.apply(gradients, self.trainable_variables)
        if prior_gradients is not None:
            self.prior_optimizer.apply(
                prior_gradients, self.discriminator.trainable_variables
            )
        return metrics
