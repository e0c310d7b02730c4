"""Evaluator `decoder`: how well the images can be rebuilt from frozen Y (the paper's MS-SSIM).

A small decoder trained on the eval train split's Y is measured on the
eval split by MS-SSIM (Wang et al. 2003, settings scaled to the image size,
docs/protocol.md) and per-pixel MSE, both on [0, 1]. Rows: results.json
`probes` `{"tap": "y", "kind": "decoder", "ms_ssim", "mse"}` and top-level
`"decoder"`; scalars `decoder/ms_ssim`, `decoder/mse`; the image
`decoder/reconstructions` (also `DIR/eval/reconstructions.png`).
"""

import keras
import numpy as np
import tensorflow as tf

from dim_tf.evaluators import base, views
from dim_tf.evaluators.base import Need, Result

# The standard MS-SSIM weights of scales 1..5 (Wang et al. 2003).
STANDARD_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_STANDARD_FILTER, _STANDARD_SIGMA = 11, 1.5
_BASE_WIDTH = 64  # Channels of the decoder's first map, halved per upsampling.
_MIN_WIDTH = 16
_MAX_START = 8  # The first map is at most 8x8 (for even sizes).
_SHOWN = 16  # Test images in the reconstruction grid.
_BATCH = 512  # Images per MS-SSIM call (memory only).


def ms_ssim_settings(size):
    """MS-SSIM's `(power_factors, filter_size, filter_sigma)` for `size x size` images.

    The window must fit in the smallest scale: at most 11 pixels and size / 4,
    as many scales (<= 5) as keep it inside, the standard weights renormalised.

    Args:
      size: S, the images' height and width.

    Returns:
      (tuple of weights, one per scale; odd int; float).
    """
    filter_size = min(_STANDARD_FILTER, max(3, (size // 4 - 1) // 2 * 2 + 1))
    scales, side = 1, size
    while scales < len(STANDARD_WEIGHTS) and -(-side // 2) >= filter_size:
        side = -(-side // 2)  # Odd sizes are padded, then halved.
        scales += 1
    weights = np.array(STANDARD_WEIGHTS[:scales])
    sigma = _STANDARD_SIGMA * filter_size / _STANDARD_FILTER
    return tuple(float(w) for w in weights / weights.sum()), filter_size, sigma


def ms_ssim(images, reconstructions):
    """Mean MS-SSIM of model-range images against their reconstructions.

    Args:
      images, reconstructions: float `[N, S, S, C]` in [-1, 1].

    Returns:
      Float in [0, 1] (1: identical).
    """
    images = np.asarray(images, np.float32)
    reconstructions = np.asarray(reconstructions, np.float32)
    power_factors, filter_size, sigma = ms_ssim_settings(images.shape[1])
    values = []
    for start in range(0, len(images), _BATCH):
        a, b = (
            (x[start : start + _BATCH] + 1.0) / 2.0 for x in (images, reconstructions)
        )
        values.append(
            tf.image.ssim_multiscale(
                a,
                np.clip(b, 0.0, 1.0),
                max_val=1.0,
                power_factors=power_factors,
                filter_size=filter_size,
                filter_sigma=sigma,
            ).numpy()
        )
    return float(np.mean(np.concatenate(values)))


def build_decoder(y_train, image_shape):
    """A decoder from Y to images: `[B, D]` -> `[B, S, S, C]` in [-1, 1].

    Standardised Y, Dense to a small map, stride-2 transposed convolutions
    up to S, tanh.

    Args:
      y_train: float32 `[N, D]`, the Y the decoder trains on.
      image_shape: `(S, S, C)`.
    """
    size, _, channels = image_shape
    start, upsamplings = size, 0
    while start % 2 == 0 and start > _MAX_START:
        start, upsamplings = start // 2, upsamplings + 1
    variance = y_train.var(axis=0)
    inputs = keras.Input((y_train.shape[1],), name="y")
    x = keras.layers.Normalization(
        mean=y_train.mean(axis=0),
        variance=np.maximum(variance, 1e-2 * variance.mean() + 1e-12),
        name="normalize",
    )(inputs)
    x = keras.layers.Dense(start * start * _BASE_WIDTH, activation="relu")(x)
    x = keras.layers.Reshape((start, start, _BASE_WIDTH))(x)
    width = _BASE_WIDTH
    for _ in range(upsamplings - 1):
        width = max(width // 2, _MIN_WIDTH)
        x = keras.layers.Conv2DTranspose(
            width, 4, strides=2, padding="same", activation="relu"
        )(x)
    last_stride = 2 if upsamplings else 1
    outputs = keras.layers.Conv2DTranspose(
        channels, 4, strides=last_stride, padding="same", activation="tanh"
    )(x)
    return keras.Model(inputs, outputs, name="decoder")


def train_decoder(y, images, epochs, learning_rate, batch_size, seed):
    """Trains `build_decoder` on `(y, images)` with Adam on mean squared error.

    All epochs run in one graph call (a Keras `fit` costs twice the time
    on small data, mostly in its set-up).

    Args:
      y: float32 `[N, D]`.
      images: float32 `[N, S, S, C]` in [-1, 1].
      epochs, learning_rate, batch_size: Adam's schedule.
      seed: seeds initialisation and shuffling.

    Returns:
      (the decoder, the mean loss of each epoch: float32 `[epochs]`).
    """
    keras.utils.set_random_seed(seed)
    model = build_decoder(y, images.shape[1:])
    variables = model.trainable_variables
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)
    batches = (
        tf.data.Dataset.from_tensor_slices((y, images))
        .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        .batch(min(batch_size, len(y)))
        .repeat(epochs)
        .prefetch(tf.data.AUTOTUNE)
    )

    @tf.function
    def train(batches):
        losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        for step, (codes, targets) in batches.enumerate():
            with tf.GradientTape() as tape:
                rebuilt = model(codes, training=True)
                loss = tf.reduce_mean(tf.square(rebuilt - targets))
            optimizer.apply(tape.gradient(loss, variables), variables)
            losses = losses.write(tf.cast(step, tf.int32), loss)
        return losses.stack()

    # Every epoch has the same number of batches.
    losses = train(batches).numpy().reshape(epochs, -1)
    return model, losses.mean(axis=1)


def reconstruct(model, y):
    """The decoder's images `[N, S, S, C]` (NumPy) of `y [N, D]`, in batches."""
    return np.concatenate(
        [
            model(y[i : i + _BATCH], training=False).numpy()
            for i in range(0, len(y), _BATCH)
        ]
    )


class Evaluator(base.Evaluator):
    """Trains the decoder on the trained encoder's Y (`eval.decoder_*`) and measures it."""

    needs_labels = False

    def __init__(self, name, eval_config, taps=(), source="trained"):
        if source != "trained":
            raise ValueError("the decoder measures the trained encoder")
        super().__init__(name, eval_config, ("y",), source)
        self.num_results = 2  # MS-SSIM, MSE.
        count = eval_config.decoder.examples
        self.needs = (Need(source, ("y",), count, count),)

    def run(self, step):
        """Yields `decoder/ms_ssim` (a `probes` row) and `decoder/mse`."""
        eval_config, run = self.eval_config, step.run
        train, test = step.features.get(self.source)
        n = min(len(train.images), eval_config.decoder.examples)
        m = min(len(test.images), eval_config.decoder.examples)
        step.log(f"Decoder on Y: {n} images, {eval_config.decoder.epochs} epochs")
        decoder, _ = train_decoder(
            train.taps["y"][:n],
            train.images[:n],
            eval_config.decoder.epochs,
            eval_config.decoder.learning_rate,
            eval_config.batch_size,
            eval_config.seed,
        )
        originals = test.images[:m]
        rebuilt = reconstruct(decoder, test.taps["y"][:m])
        similarity = ms_ssim(originals, rebuilt)
        mse = float(np.mean(np.square((np.clip(rebuilt, -1, 1) - originals) / 2.0)))
        shown = min(_SHOWN, m)
        grid = views.pairs_grid(
            views.to_rgb_uint8(originals[:shown]), views.to_rgb_uint8(rebuilt[:shown])
        )
        views.write_image(
            run.workdir,
            run.step,
            "decoder/reconstructions",
            grid,
            "reconstructions.png",
        )
        row = {"tap": "y", "kind": "decoder", "ms_ssim": similarity, "mse": mse}
        yield Result("decoder/ms_ssim", similarity, "probes", row)
        summary = {"tap": "y", "ms_ssim": similarity, "mse": mse}
        summary["num_train_examples"] = n
        yield Result("decoder/mse", mse, "", {"decoder": summary})
