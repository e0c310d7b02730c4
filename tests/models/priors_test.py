"""Prior matching: distributions by name, and the two players' opposite aims."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf.models import priors

DIM = 4


def _codes_model():
    """A stand-in encoder: fixed inputs -> learnable codes `[B, DIM]`.

    Its bias starts at 2, so sigmoid(codes) sit near 0.88, far from uniform.
    """
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(DIM, bias_initializer="ones")]
        + [keras.layers.Lambda(lambda x: 2.0 * x)]
    )


@pytest.mark.parametrize("name", ["uniform", "gaussian"])
def test_priors_sample_their_event_shape(name):
    samples = priors.sample_prior(name, 5, DIM, tf.constant([1, 2], tf.int32))
    assert samples.shape == (5, DIM) and samples.dtype == tf.float32
    if name == "uniform":
        assert np.all((samples.numpy() >= 0) & (samples.numpy() <= 1))


def test_uniform_prior_matches_sigmoid_of_y_and_gaussian_matches_y():
    y = tf.constant([[0.0, 2.0]])
    np.testing.assert_allclose(priors.code_for_prior("uniform", y), tf.sigmoid(y))
    np.testing.assert_allclose(priors.code_for_prior("gaussian", y), y)
    with pytest.raises(ValueError, match="no samples"):
        priors.sample_prior("none", 5, DIM, tf.constant([1, 2], tf.int32))


def test_unknown_prior_names_the_valid_ones():
    with pytest.raises(ValueError, match="uniform, gaussian, none"):
        priors.check_prior("laplace")


def test_discriminator_shape():
    disc = priors.build_discriminator(DIM)
    assert [layer.units for layer in disc.layers[1:]] == [1000, 200, 1]
    assert disc(tf.zeros((3, DIM))).shape == (3, 1)


def _setup():
    real = priors.sample_prior("uniform", 64, DIM, tf.constant([3, 4], tf.int32))
    inputs = tf.random.stateless_normal((64, 3), (5, 6))
    return real, inputs, _codes_model(), priors.build_discriminator(DIM)


def test_discriminator_loss_goes_down_when_only_the_discriminator_trains():
    real, inputs, encoder, disc = _setup()
    fake = priors.code_for_prior("uniform", encoder(inputs))
    optimizer = keras.optimizers.Adam(3e-3)
    encoder_before = [w.copy() for w in encoder.get_weights()]
    losses = []
    for _ in range(60):
        with tf.GradientTape() as tape:
            # A light penalty: at the default weight the penalty itself caps how far
            # the GAN loss can fall from log 4 on these well-separated codes.
            loss, metrics = priors.discriminator_loss(
                disc, real, tf.stop_gradient(fake), gradient_penalty=0.05
            )
        optimizer.apply(
            tape.gradient(loss, disc.trainable_variables), disc.trainable_variables
        )
        losses.append(float(metrics["prior/discriminator_loss"]))
    assert losses[-1] < losses[0] - 0.1
    for before, after in zip(encoder_before, encoder.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_encoder_prior_loss_goes_down_when_only_the_encoder_trains():
    real, inputs, encoder, disc = _setup()
    # A discriminator that has learnt something first, then is frozen.
    disc_optimizer = keras.optimizers.Adam(3e-3)
    for _ in range(60):
        fake = priors.code_for_prior("uniform", encoder(inputs))
        with tf.GradientTape() as tape:
            loss, _ = priors.discriminator_loss(
                disc, real, tf.stop_gradient(fake), gradient_penalty=0.05
            )
        disc_optimizer.apply(
            tape.gradient(loss, disc.trainable_variables), disc.trainable_variables
        )
    disc_before = [w.copy() for w in disc.get_weights()]
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    for _ in range(60):
        with tf.GradientTape() as tape:
            loss = priors.encoder_prior_loss(
                disc, priors.code_for_prior("uniform", encoder(inputs))
            )
        optimizer.apply(
            tape.gradient(loss, encoder.trainable_variables),
            encoder.trainable_variables,
        )
        losses.append(float(loss))
    assert losses[-1] < losses[0] - 0.1
    for before, after in zip(disc_before, disc.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_gradient_penalty_is_the_mean_squared_input_gradient():
    disc = priors.build_discriminator(DIM)
    real = tf.random.stateless_uniform((8, DIM), (1, 1))
    fake = tf.random.stateless_uniform((8, DIM), (2, 2))
    _, metrics = priors.discriminator_loss(disc, real, fake, gradient_penalty=1.0)
    expected = []
    for x in (real, fake):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = disc(x)
        expected.append(np.mean(np.sum(tape.gradient(out, x).numpy() ** 2, -1)))
    np.testing.assert_allclose(
        metrics["prior/gradient_penalty"], 0.5 * sum(expected), rtol=1e-5
    )


@pytest.mark.parametrize("name", ["uniform", "gaussian"])
def test_prior_samples_are_the_same_under_xla(name):
    def draw(step):
        seed = tf.stack([tf.constant(7, tf.int32), tf.cast(step, tf.int32)])
        return priors.sample_prior(name, 4096, 2, seed)

    step = tf.constant(3, tf.int64)
    plain = tf.function(draw)(step).numpy()
    xla = tf.function(draw, jit_compile=True)(step)
    np.testing.assert_allclose(xla, plain, rtol=1e-5, atol=1e-5)
    assert plain.shape == (4096, 2) and plain.dtype == np.float32
    if name == "uniform":
        assert 0 < plain.min() and plain.max() < 1 and abs(plain.mean() - 0.5) < 0.02
    else:
        assert abs(plain.mean()) < 0.05 and abs(plain.std() - 1) < 0.05


def test_the_extreme_integers_map_strictly_inside_the_unit_interval():
    extremes = tf.constant([0, 2**priors.UNIFORM_BITS - 1], tf.int32)
    unit = priors.open_unit_interval(extremes).numpy()
    assert 0 < unit[0] and unit[1] < 1
    assert np.all(np.isfinite(tf.math.erfinv(2.0 * unit - 1.0).numpy()))
