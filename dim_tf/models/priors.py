"""Prior matching: the prior by name, its discriminator and the two losses.

An adversarial discriminator D tells samples of the prior ("real") from the
encoder's codes ("fake"). The two players have opposite aims and separate
optimizers: D minimises `discriminator_loss` with the encoder frozen, and the
encoder minimises `encoder_prior_loss` (non-saturating: softplus(-D(fake)))
with D frozen. The uniform prior on [0, 1]^d is matched by sigmoid(Y), as in
the paper; the Gaussian prior is matched by Y itself.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from dim_tf.models import PRIORS

tfd = tfp.distributions


def check_prior(name):
    """Raises `ValueError` unless `name` is one of `PRIORS`."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")


def make_prior(name, dim):
    """The prior distribution over `[dim]` codes, or None for `"none"`.

    Args:
      name: one of `PRIORS`.
      dim: size of Y.

    Returns:
      A `tfd.Distribution` with event shape `[dim]`, float32, or None.
    """
    check_prior(name)
    if name == "uniform":
        return tfd.Independent(
            tfd.Uniform(low=tf.zeros(dim), high=tf.ones(dim)),
            reinterpreted_batch_ndims=1,
        )
    if name == "gaussian":
        return tfd.MultivariateNormalDiag(loc=tf.zeros(dim), scale_diag=tf.ones(dim))
    return None


def code_for_prior(name, y):
    """What the prior is matched against: sigmoid(Y) for uniform, else Y.

    Args:
      name: one of `PRIORS`.
      y: `[B, D]` encoder output, any float dtype.

    Returns:
      `[B, D]` float32.
    """
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

    `softplus(-D(real)) + softplus(D(fake))`, averaged, plus
    `gradient_penalty * 0.5 * (E|dD/dx(real)|^2 + E|dD/dx(fake)|^2)`.
    The caller passes `fake` with the encoder's gradient stopped.

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
