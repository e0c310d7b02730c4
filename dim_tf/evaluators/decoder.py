"""Evaluator `decoder`: how well the images can be rebuilt from frozen Y.

A small decoder (`build_decoder`: Dense to a small map, then stride-2
transposed convolutions up to the encoder's input `S x S x C`, tanh output in
[-1, 1]) is trained with Adam on mean squared error to reconstruct the first
`eval.decoder.examples` images of `config.data.eval_train_split` from their
Y, the encoder frozen; it is then measured on as many images of
`config.data.eval_split`:

- `ms_ssim`: multi-scale structural similarity (Wang et al. 2003) of each
  reconstruction with its image, both mapped to [0, 1], averaged over the
  images: 1 for a perfect reconstruction, near 0 for noise. The standard
  settings (5 scales, an 11-pixel window) need images of at least 161
  pixels (`tf.image.ssim_multiscale` pads odd sides before halving);
  `ms_ssim_settings` derives them from S (docstring);
- `mse`: mean squared error per pixel on the same [0, 1] scale.

Rows: results.json `probes` gets `{"tap": "y", "kind": "decoder",
"ms_ssim", "mse"}` (no accuracy, no SavedModel: its `export` stays null) and
the top level `"decoder": {"tap", "ms_ssim", "mse", "num_train_examples"}`;
scalars `decoder/ms_ssim`, `decoder/mse`. The first test images beside their
reconstructions are the TensorBoard image `decoder/reconstructions` in
`DIR/eval`, also saved as `DIR/eval/reconstructions.png`. Labels are not
used.
"""

import keras
import numpy as np
import tensorflow as tf

from dim_tf.evaluators import views
from dim_tf.evaluators.features import Need
from dim_tf.evaluators.results import Result

NEEDS_LABELS = False

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

    `ssim_multiscale` halves the image between scales and needs the window
    to fit in the smallest one. The window is the standard 11 pixels, or,
    when a quarter of `size` is smaller, the largest odd width <= size / 4
    (at least 3), its Gaussian's sigma scaled with it (1.5 * width / 11). The
    scales are as many as keep the window inside (at most the standard 5),
    weighted by the standard weights of the first scales, renormalised to
    sum to 1. 28 and 32 pixels: a 7-pixel window, 3 scales; 64: 11 pixels,
    3 scales; 160: 4 scales; 161 and more (161 -> 81 -> 41 -> 21 -> 11,
    odd sides padded before halving): the standard settings.

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

    Y is standardised per dimension (statistics of `y_train`), mapped by a
    Dense layer to a `s x s x 64` map (s: S halved while even and above 8,
    e.g. 7 for 28, 8 for 32 and 64) and upsampled by stride-2 4x4
    transposed convolutions (ReLU, channels halved each time, at least 16),
    the last one to C channels with a tanh.

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


class Evaluator:
    """Trains the decoder on the trained encoder's Y and measures it.

    Args:
      name: "decoder".
      eval_config: the `config.eval` section (decoder, batch_size, seed).
      taps: unused (the decoder reads Y).
      source: "trained".
    """

    def __init__(self, name, eval_config, taps=(), source="trained"):
        del taps
        if source != "trained":
            raise ValueError("the decoder measures the trained encoder")
        self.name, self.eval_config, self.source = name, eval_config, source
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
