"""Critics of multi-scale MI (`objective.scales`): one per SOURCE:TARGET pair.

Y-to-map pairs ("y:conv1") use the run's local critic kind; map-to-map pairs
("conv2:conv2", AMDIM's "5-to-5") use `MapCritic`, with the two-stage
interface of `critics` (target map as "local", source map as "y").
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from dim_tf.models import critic_layers, critic_scores, critics, local_critic_units


class MapCritic(keras.Model):
    """Encode-and-dot critic of a source map's locations against a target map's.

        target_emb = EncodeBlock(target)  [N, Mt, Mt, Ct] -> [N, Lt, units]
        source_emb = EncodeBlock(source)  [N, Ms, Ms, Cs] -> [N, Ls, units]
        scores[i * Ls + s, j, t] = <source_emb[i, s], target_emb[j, t]>
                                                      [n * Ls, N, Lt] float32

    Args:
        units: embedding width E.
        dtype: Keras dtype policy name for every layer, or None.
        sync_batch_norm: BatchNorm statistics across replicas.
        score_scale: "none" or "sqrt_units" (the dot product / sqrt(E)).
        score_clip: None or c > 0: scores soft-clipped to `c * tanh(s / c)`.
    """

    def __init__(
        self,
        units,
        dtype=None,
        sync_batch_norm=False,
        score_scale="none",
        score_clip=None,
        name="map_critic",
        **kwargs,
    ):
        super().__init__(dtype=dtype, name=name, **kwargs)
        self.units = critic_layers.check_units(units)
        self.score_factor = critic_scores.scale_factor(score_scale, self.units)
        self.score_clip = critic_scores.check_clip(score_clip)
        self.target_net = critic_layers.EncodeBlock(
            units, True, sync_batch_norm, dtype=dtype, name="target_net"
        )
        self.source_net = critic_layers.EncodeBlock(
            units, True, sync_batch_norm, dtype=dtype, name="source_net"
        )

    def build_from_shapes(self, target_shape, source_shape):
        """Creates the variables from `[M, M, C]` (or `[N, M, M, C]`) shapes."""
        target_shape, source_shape = tuple(target_shape), tuple(source_shape)
        if len(target_shape) == 3:
            target_shape = (None, *target_shape)
        if len(source_shape) == 3:
            source_shape = (None, *source_shape)
        self.target_net.build(target_shape)
        self.source_net.build(source_shape)
        self.built = True

    def embed(self, local, y, training=None):
        """`local` = target `[N, Mt, Mt, Ct]`, `y` = source `[N, Ms, Ms, Cs]` ->
        `(target_emb [N, Lt, units], source_emb [N, Ls, units])`."""
        if not self.built:
            self.build_from_shapes(local.shape, y.shape)
        return self._flat(self.target_net(local, training=training)), self._flat(
            self.source_net(y, training=training)
        )

    def _flat(self, maps):
        return ops.reshape(maps, (-1, maps.shape[1] * maps.shape[2], self.units))

    def pair_scores(self, global_emb, local_emb):
        """`[n * Ls, N, Lt]` float32 scores, soft-clipped when `score_clip` is set."""
        return self.clip_scores(self.unclipped_pair_scores(global_emb, local_emb))

    def clip_scores(self, scores):
        """`scores` soft-clipped by `score_clip` (unchanged when it is None)."""
        return critic_scores.soft_clip(scores, self.score_clip)

    def unclipped_pair_scores(self, global_emb, local_emb):
        """`global_emb` = source `[n, Ls, E]`, `local_emb` = target `[N, Lt, E]`
        -> `[n * Ls, N, Lt]` float32 (row i * Ls + s), scaled, not clipped."""
        queries = tf.reshape(tf.cast(global_emb, tf.float32), (-1, self.units))
        if self.score_factor != 1.0:
            queries = queries * self.score_factor
        local_emb = tf.cast(local_emb, tf.float32)
        shape = tf.shape(local_emb)
        flat = tf.reshape(local_emb, (-1, self.units))
        scores = tf.linalg.matmul(queries, flat, transpose_b=True)
        return tf.reshape(scores, (-1, shape[0], shape[1]))

    def call(self, inputs, training=None):
        """`{"local": target, "y": source}` -> scores `[N * Ls, N, Lt]`."""
        target_emb, source_emb = self.embed(inputs["local"], inputs["y"], training)
        return self.pair_scores(source_emb, target_emb)


def build_pair_critic(target_shape, source_shape, critic, dtype, sync, name):
    """The built critic of one `objective.scales` pair.

    Args:
      target_shape: the target map's `[M, M, C]`.
      source_shape: Y's `[D]` (a critic of the `critic.kind`) or the source
        map's `[M, M, C]` (a `MapCritic`).
      critic: the `critic` config section (kind, units).
      dtype: Keras dtype policy name, or None.
      sync: BatchNorm statistics across replicas.
      name: the critic's name.

    Returns:
      A critic with `embed` / `pair_scores`, every variable created.
    """
    if len(source_shape) == 1:
        model = critics.build_local_critic(
            critic.kind,
            critic.units,
            dtype=dtype,
            sync_batch_norm=sync,
            score_scale=critic.score_scale,
            score_clip=critic.score_clip,
        )
        model.build_from_shapes(target_shape, source_shape)
        return model
    # Map-to-map pairs are always encode-and-dot: a concat MLP would cost Ls
    # times the concat critic's already large activations.
    units = local_critic_units("dot", critic.units)
    model = MapCritic(
        units,
        dtype=dtype,
        sync_batch_norm=sync,
        score_scale=critic.score_scale,
        score_clip=critic.score_clip,
        name=name,
    )
    model.build_from_shapes(target_shape, source_shape)
    return model
