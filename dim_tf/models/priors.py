"""Prior matching: the prior by name, its discriminator and the two losses.

D minimises `discriminator_loss` with the encoder frozen; the encoder minimises
the non-saturating `encoder_prior_loss` with D frozen. The uniform prior on
[0, 1]^d is matched by sigmoid(Y) as in the paper, the Gaussian by Y itself.
"""

import math

import keras
import tensorflow as tf

from dim_tf.models import PRIORS


def check_prior(name):
    """Raises `ValueError` unless `name` is one of `PRIORS`."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")


# Bits per uniform draw: (k + 0.5) / 2**23 is exact in float32 and < 1.
UNIFORM_BITS = 23


def sample_prior(name, count, dim, seed):
    """`[count, dim]` float32 samples of prior `name` ("uniform" or "gaussian").

    From Philox integers: XLA's float uniform and normal draws are not the
    CPU kernels', and the samples must not change with `train.jit_compile`.

    Args:
      name: "uniform" (on (0, 1)) or "gaussian" (standard, by inverse CDF).
      count: samples.
      dim: D, each sample's size.
      seed: int32 `[2]`.
    """
    if name not in ("uniform", "gaussian"):
        raise ValueError(f"prior {name!r} has no samples; choose uniform or gaussian")
    bits = tf.random.stateless_uniform(
        [count, dim], seed, 0, 2**UNIFORM_BITS, dtype=tf.int32, alg="philox"
    )
    unit = open_unit_interval(bits)
    if name == "uniform":
        return unit
    return math.sqrt(2.0) * tf.math.erfinv(2.0 * unit - 1.0)


def open_unit_interval(bits):
    """int32 in [0, 2**UNIFORM_BITS) -> float32 in (0, 1), so erfinv stays finite."""
    return (tf.cast(bits, tf.float32) + 0.5) / 2**UNIFORM_BITS


def code_for_prior(name, y):
    """`y [B, D]` -> float32 `[B, D]` matched to prior `name`: sigmoid(Y) or Y."""
    y = tf.cast(y, tf.float32)
    return tf.sigmoid(y) if name == "uniform" else y


def build_discriminator(dim, name="prior_discriminator"):
    """The paper's prior discriminator: Dense 1000-ReLU, 200-ReLU, 1 (float32).

    Args:
      dim: size of the codes `[B, dim]` it judges.

    Returns:
      A built `keras.Model` mapping `[B, dim]` to logits `[B, 1]`.
    """
    inputs = keras.Input((dim,), dtype="float32")
    x = keras.layers.Dense(1000, activation="relu", dtype="float32")(inputs)
    x = keras.layers.Dense(200, activation="relu", dtype="float32")(x)
    logits = keras.layers.Dense(1, dtype="float32")(x)
    return keras.Model(inputs, logits, name=name)


def discriminator_loss(discriminator, real, fake, gradient_penalty=1.0):
    """GAN loss of the discriminator plus a gradient penalty.

    `mean(softplus(-D(real)) + softplus(D(fake)))` plus
    `gradient_penalty * 0.5 * (E|dD/dx(real)|^2 + E|dD/dx(fake)|^2)`;
    the caller stops the encoder's gradient through `fake`.

    Args:
      discriminator: model from `build_discriminator`.
      real: `[B, D]` float32 samples of the prior.
      fake: `[B, D]` float32 codes of the encoder.
      gradient_penalty: weight of the penalty.

    Returns:
      (loss scalar float32, metrics dict of scalars).
    """
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([real, fake])
        real_logits = discriminator(real, training=True)
        fake_logits = discriminator(fake, training=True)
    real_grad = tape.gradient(real_logits, real)
    fake_grad = tape.gradient(fake_logits, fake)
    del tape
    gan = tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(
        tf.nn.softplus(fake_logits)
    )
    penalty = 0.5 * (
        tf.reduce_mean(tf.reduce_sum(tf.square(real_grad), -1))
        + tf.reduce_mean(tf.reduce_sum(tf.square(fake_grad), -1))
    )
    loss = gan + gradient_penalty * penalty
    return loss, {"prior/discriminator_loss": gan, "prior/gradient_penalty": penalty}


def encoder_prior_loss(discriminator, fake):
    """Non-saturating loss that pulls codes towards the prior: E softplus(-D(fake)).

    Args:
      discriminator: model from `build_discriminator` (not updated by this loss).
      fake: `[B, D]` float32 codes of the encoder (gradients flow to the encoder).

    Returns:
      Scalar float32.
    """
    return tf.reduce_mean(tf.nn.softplus(-discriminator(fake, training=False)))
