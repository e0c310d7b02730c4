"""The decoder evaluator: MS-SSIM on small images, a decoder that learns."""

import numpy as np
import pytest
import tensorflow as tf

from dim_tf.evaluators import decoder


def _smooth_images(n, shape, seed=0):
    """Images in [-1, 1] with structure at several scales (blurred noise)."""
    noise = np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype(np.float32)
    smooth = tf.nn.avg_pool2d(noise, 5, 1, "SAME").numpy()
    return smooth / np.abs(smooth).max()


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_ms_ssim_is_one_for_a_perfect_reconstruction_and_low_for_noise(shape):
    images = _smooth_images(6, shape)
    noise = np.random.default_rng(1).uniform(-1, 1, images.shape).astype(np.float32)
    assert decoder.ms_ssim(images, images) == pytest.approx(1.0, abs=1e-5)
    assert decoder.ms_ssim(images, noise) < 0.15
    slightly_off = decoder.ms_ssim(images, images + 0.1 * noise)
    assert decoder.ms_ssim(images, noise) < slightly_off < 1.0


@pytest.mark.parametrize(
    "size, scales, filter_size",
    [(28, 3, 7), (32, 3, 7), (64, 3, 11), (160, 4, 11), (161, 5, 11), (176, 5, 11)],
)
def test_ms_ssim_settings_fit_the_image_size(size, scales, filter_size):
    weights, window, sigma = decoder.ms_ssim_settings(size)
    assert (len(weights), window) == (scales, filter_size)
    assert sum(weights) == pytest.approx(1.0)
    assert sigma == pytest.approx(1.5 * filter_size / 11)
    # The smallest scale still holds the window (what ssim_multiscale needs).
    assert -(-size // 2 ** (scales - 1)) >= window


def test_the_standard_settings_start_at_161_pixels():
    """ssim_multiscale pads odd sides before halving: 161 -> 81 -> 41 -> 21 -> 11."""
    weights, window, _ = decoder.ms_ssim_settings(161)
    assert weights == pytest.approx(decoder.STANDARD_WEIGHTS, rel=1e-3)
    standard = dict(power_factors=decoder.STANDARD_WEIGHTS, filter_size=window)
    image = tf.zeros((1, 161, 161, 1))
    assert float(tf.image.ssim_multiscale(image, image, 1.0, **standard)[0]) > 0.99
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.image.ssim_multiscale(image[:, 1:, 1:], image[:, 1:, 1:], 1.0, **standard)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_the_decoder_rebuilds_the_encoder_input_and_its_loss_falls(shape):
    # Images that are a function of a 4-number code.
    y = np.random.default_rng(2).normal(size=(32, 4)).astype(np.float32)
    basis = _smooth_images(4, shape, seed=3)
    images = np.tanh(np.einsum("nk,khwc->nhwc", y, basis))
    model, losses = decoder.train_decoder(
        y, images, epochs=10, learning_rate=3e-3, batch_size=16, seed=0
    )
    assert model.output_shape == (None, *shape) and losses.shape == (10,)
    assert losses[-1] < 0.8 * losses[0]
    rebuilt = decoder.reconstruct(model, y)
    assert rebuilt.shape == images.shape
    assert rebuilt.min() >= -1.0 and rebuilt.max() <= 1.0
    assert np.mean(np.square(rebuilt - images)) < losses[0]
