"""Deep InfoMax critics: scores of (global vector, local vector) pairs.

Hjelm et al., ICLR 2019, section 3 and appendix A.2. Two stages, so a
distributed step can gather every replica's embeddings in between:
`embed(local, y)` -> `(local_emb [N, L, E], global_emb [N, G])`;
`pair_scores(global_emb [n, G], local_emb [N, L, E])` -> `[n, N, L]` float32
(row i depends only on `global_emb[i]`). Scores are float32 whatever the dtype
policy: the estimators take logs and exponentials over N*N*L terms.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from dim_tf.errors import UserError
from dim_tf.models import (
    LOCAL_CRITICS,
    critic_layers,
    critic_scores,
    local_critic_units,
)


def _shapes(input_shape) -> tuple[tuple, tuple]:
    """Splits a `{"local": shape, "y": shape}` dict into two tuples."""
    try:
        local_shape, y_shape = input_shape["local"], input_shape["y"]
    except (TypeError, KeyError):
        raise ValueError(
            'critics are built from {"local": local_shape, "y": y_shape}, '
            f"got {input_shape!r}"
        ) from None
    local_shape, y_shape = tuple(local_shape), tuple(y_shape)
    if len(local_shape) != 4 or len(y_shape) != 2:
        raise ValueError(
            "critics take a local map [N, M, M, C] and Y [N, D], got shapes "
            f"{local_shape} and {y_shape}"
        )
    if local_shape[-1] is None or y_shape[-1] is None:
        raise ValueError(
            f"critic channel sizes must be known, got {local_shape} and {y_shape}"
        )
    return local_shape, y_shape


class _Critic(keras.Model):
    """Shared `build_from_shapes` / `call` / score clip of the two-stage critics.

    Args:
        score_clip: None (the paper) or c > 0: scores become `c * tanh(s / c)`.
    """

    def __init__(self, score_clip=None, **kwargs):
        super().__init__(**kwargs)
        self.score_clip = critic_scores.check_clip(score_clip)

    def build_from_shapes(self, local_shape, y_shape):
        """Creates every variable without running the critic.

        Args:
            local_shape: `[N, M, M, C]` (N may be None) or `[M, M, C]`.
            y_shape: `[N, D]` or `[D]`.
        """
        local_shape, y_shape = tuple(local_shape), tuple(y_shape)
        if len(local_shape) == 3 and len(y_shape) == 1:
            local_shape, y_shape = (None, *local_shape), (None, *y_shape)
        self.build({"local": local_shape, "y": y_shape})

    def call(self, inputs, training=None):
        """`{"local": [N, M, M, C], "y": [N, D]}` -> scores `[N, N, L]` float32."""
        local_emb, global_emb = self.embed(inputs["local"], inputs["y"], training)
        return self.pair_scores(global_emb, local_emb)

    def _build_if_needed(self, local, y):
        # `embed` may be the first call: building fixes the concat split sizes.
        if not self.built:
            self.build({"local": tuple(local.shape), "y": tuple(y.shape)})

    def embed(self, local, y, training=None):
        raise NotImplementedError

    def unclipped_pair_scores(self, global_emb, local_emb):
        """`[n, N, L]` float32 scores before `score_clip` (scaled, for the dot)."""
        raise NotImplementedError

    def pair_scores(self, global_emb, local_emb):
        """`global_emb [n, ...]`, `local_emb [N, L, ...]` -> `[n, N, L]` float32."""
        return self.clip_scores(self.unclipped_pair_scores(global_emb, local_emb))

    def clip_scores(self, scores):
        """`scores` soft-clipped by `score_clip` (unchanged when it is None)."""
        return critic_scores.soft_clip(scores, self.score_clip)


class DotCritic(_Critic):
    """Encode-and-dot critic (the official code's default local critic).

    `critic_layers.EncodeBlock`s embed the local map to `[N, M*M, units]` and Y
    to `[N, units]`; `scores[i, j, l] = <global_emb[i], local_emb[j, l]>`.

    Args:
        units: embedding width E (2048 in the official code).
        dtype: Keras dtype policy name for every layer, or None.
        sync_batch_norm: BatchNorm statistics across replicas.
        score_scale: "none" (the paper) or "sqrt_units": divide by sqrt(E),
            the spread of a dot of two LayerNormed E-wide vectors.
        score_clip: None or c > 0, see `_Critic`.
    """

    def __init__(
        self,
        units=2048,
        dtype=None,
        sync_batch_norm=False,
        score_scale="none",
        score_clip=None,
        name="dot_critic",
        **kwargs,
    ):
        super().__init__(score_clip=score_clip, dtype=dtype, name=name, **kwargs)
        self.units = critic_layers.check_units(units)
        critic_scores.check_scale(score_scale)
        self.score_scale = score_scale
        self.local_net = critic_layers.EncodeBlock(
            units, True, sync_batch_norm, dtype=dtype, name="local_net"
        )
        self.global_net = critic_layers.EncodeBlock(
            units, False, sync_batch_norm, dtype=dtype, name="global_net"
        )

    def build(self, input_shape):
        local_shape, y_shape = _shapes(input_shape)
        self.local_net.build(local_shape)
        self.global_net.build(y_shape)

    def embed(self, local, y, training=None):
        """`local [N, M, M, C]`, `y [N, D]` -> `([N, M*M, units], [N, units])`."""
        self._build_if_needed(local, y)
        local_emb = self.local_net(local, training=training)
        h, w = local_emb.shape[1], local_emb.shape[2]
        local_emb = ops.reshape(local_emb, (-1, h * w, self.units))
        global_emb = self.global_net(y, training=training)
        return local_emb, global_emb

    def unclipped_pair_scores(self, global_emb, local_emb):
        """`global_emb [n, E]`, `local_emb [N, L, E]` -> `[n, N, L]` float32."""
        global_emb = ops.cast(global_emb, "float32")
        scale = critic_scores.scale_factor(self.score_scale, self.units)
        if scale != 1.0:
            # n*E multiplications instead of n*N*L.
            global_emb = global_emb * scale
        local_emb = ops.cast(local_emb, "float32")
        shape = ops.shape(local_emb)
        flat = ops.reshape(local_emb, (-1, self.units))
        scores = tf.linalg.matmul(global_emb, flat, transpose_b=True)
        return ops.reshape(scores, (-1, shape[0], shape[1]))


class _ConcatScorer(_Critic):
    """Concat-then-MLP critics with the first layer split in two.

    `[a; y] @ W + b == a @ W_a + b + y @ W_y`: `embed` computes both halves once
    per image, `pair_scores` adds them by broadcasting. `self.joint`'s kernel
    `[A + D, units]` is the one a layer on the concatenation would have.
    """

    def __init__(self, units, dtype=None, score_clip=None, name=None, **kwargs):
        super().__init__(score_clip=score_clip, dtype=dtype, name=name, **kwargs)
        self.units = critic_layers.check_units(units)
        self.joint = keras.layers.Dense(self.units, dtype=dtype, name="joint")
        self.hidden = keras.layers.Dense(
            self.units, activation="relu", dtype=dtype, name="hidden"
        )
        # float32 scores under a mixed policy too.
        self.score = keras.layers.Dense(1, dtype="float32", name="score")
        self._split = None

    def _build_head(self, features, y_dim):
        self._split = int(features)
        self.joint.build((None, self._split + int(y_dim)))
        self.hidden.build((None, self.units))
        self.score.build((None, self.units))

    def _joint_parts(self, features, y):
        """`features [N, L, A]`, `y [N, D]` -> `([N, L, units], [N, units])`."""
        dtype = self.compute_dtype
        kernel = ops.cast(self.joint.kernel, dtype)
        bias = ops.cast(self.joint.bias, dtype)
        local_emb = ops.matmul(ops.cast(features, dtype), kernel[: self._split]) + bias
        global_emb = ops.matmul(ops.cast(y, dtype), kernel[self._split :])
        return local_emb, global_emb

    def unclipped_pair_scores(self, global_emb, local_emb):
        """`global_emb [n, units]`, `local_emb [N, L, units]` -> `[n, N, L]` float32."""
        dtype = self.compute_dtype
        global_emb = ops.cast(global_emb, dtype)[:, None, None, :]
        local_emb = ops.cast(local_emb, dtype)[None]
        h = self.hidden(ops.relu(global_emb + local_emb))
        return ops.squeeze(self.score(h), axis=-1)


class ConcatCritic(_ConcatScorer):
    """Concat-and-convolve critic (the paper's local critic, appendix A.2).

    Y tiled over the M x M map, concatenated with the local features and scored
    by 1x1 convs `units`-`units`-1 (ReLU); the tiling is never materialised
    (first conv split, see `_ConcatScorer`), but `pair_scores` holds
    `[n, N, L, units]` activations.

    Args:
        units: hidden width (512 in the paper).
        dtype: Keras dtype policy name for every layer but the float32 score
            layer, or None.
        score_clip: None or c > 0, see `_Critic`.
    """

    def __init__(
        self, units=512, dtype=None, score_clip=None, name="concat_critic", **kwargs
    ):
        super().__init__(units, dtype=dtype, score_clip=score_clip, name=name, **kwargs)

    def build(self, input_shape):
        local_shape, y_shape = _shapes(input_shape)
        self._build_head(local_shape[-1], y_shape[-1])

    def embed(self, local, y, training=None):
        """`local [N, M, M, C]`, `y [N, D]` -> `([N, M*M, units], [N, units])`."""
        self._build_if_needed(local, y)
        h, w, c = local.shape[1], local.shape[2], local.shape[3]
        features = ops.reshape(local, (-1, h * w, c))
        return self._joint_parts(features, y)


class GlobalCritic(_ConcatScorer):
    """The paper's global DIM critic (Hjelm et al. 2019, appendix A.2).

    Two 'valid' 3x3 convs (64, 32 filters, ReLU) on the local map, flattened,
    concatenated with Y and scored by FC `units`-`units`-1 (first layer split,
    L = 1). Needs M >= 5. The official code instead dots 2048-unit embeddings:
    `DotCritic` on a 1x1 map.

    Args:
        units: hidden width (512 in the paper).
        dtype: Keras dtype policy name for every layer but the float32 score
            layer, or None.
        score_clip: None or c > 0, see `_Critic`.
    """

    def __init__(
        self, units=512, dtype=None, score_clip=None, name="global_critic", **kwargs
    ):
        super().__init__(units, dtype=dtype, score_clip=score_clip, name=name, **kwargs)
        self.conv1 = keras.layers.Conv2D(
            64, 3, padding="valid", activation="relu", dtype=dtype, name="conv1"
        )
        self.conv2 = keras.layers.Conv2D(
            32, 3, padding="valid", activation="relu", dtype=dtype, name="conv2"
        )

    def build(self, input_shape):
        local_shape, y_shape = _shapes(input_shape)
        h, w = local_shape[1], local_shape[2]
        if h is None or w is None or h < 5 or w < 5:
            raise UserError(
                "the global critic's two 3x3 'valid' convolutions need a local "
                f"map of at least 5x5, got {h}x{w}"
            )
        self.conv1.build(local_shape)
        conv1_shape = self.conv1.compute_output_shape(local_shape)
        self.conv2.build(conv1_shape)
        conv2_shape = self.conv2.compute_output_shape(conv1_shape)
        self._build_head(math.prod(conv2_shape[1:]), y_shape[-1])

    def embed(self, local, y, training=None):
        """`local [N, M, M, C]`, `y [N, D]` -> `([N, 1, units], [N, units])`."""
        self._build_if_needed(local, y)
        h = self.conv2(self.conv1(local))
        features = ops.reshape(h, (-1, 1, math.prod(h.shape[1:])))
        return self._joint_parts(features, y)


def build_local_critic(
    kind,
    units=None,
    dtype=None,
    sync_batch_norm=False,
    score_scale="none",
    score_clip=None,
):
    """The local DIM critic `kind` ("dot" or "concat").

    Args:
        kind: "dot" (`DotCritic`) or "concat" (`ConcatCritic`).
        units: embedding / hidden width; None for the paper's width of the kind.
        dtype: Keras dtype policy name, or None for the global policy.
        sync_batch_norm: BatchNorm statistics across replicas ("dot" only).
        score_scale: "none" or "sqrt_units" ("dot" only).
        score_clip: None or c > 0: scores soft-clipped to `c * tanh(s / c)`.

    Raises:
        ValueError: unknown kind, non-positive units, a bad score option or
            `score_scale` "sqrt_units" with the concat critic.
    """
    if kind not in LOCAL_CRITICS:
        raise ValueError(
            f"unknown critic kind {kind!r}; choose one of {', '.join(LOCAL_CRITICS)}"
        )
    units = local_critic_units(kind, units)
    if kind == "dot":
        return DotCritic(
            units,
            dtype=dtype,
            sync_batch_norm=sync_batch_norm,
            score_scale=score_scale,
            score_clip=score_clip,
        )
    if score_scale != "none":
        raise ValueError(
            f"critic score_scale {score_scale!r} divides the dot critic's dot "
            "product; the concat critic has none: use score_scale 'none' or kind 'dot'"
        )
    return ConcatCritic(units, dtype=dtype, score_clip=score_clip)


def build_global_critic(units=512, dtype=None, score_clip=None):
    """The paper's global DIM critic (`GlobalCritic`): scores `[N, N, 1]`."""
    return GlobalCritic(units, dtype=dtype, score_clip=score_clip)
