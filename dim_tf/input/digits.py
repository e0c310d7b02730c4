"""The embedded datasets: scikit-learn's 8x8 digits as TFDS `digits` and `digits_expanded`.

Importing this module registers both builders, so `tfds.load("digits")`
builds the dataset offline from the copy bundled with scikit-learn: 1,797
real 8x8 grayscale images of the digits 0-9, split into 1,437 train and 360
test examples (stratified by class, fixed seed).

`digits_expanded` is MNIST-sized: 60,000 train and 10,000 test 28x28 images,
seeded random variations (shift, rotation, scale, noise) of the same train
and test digits (`expand`). It measures how evaluation scales with a
realistic dataset size (`bin/benchmark --workdir=DIR`); building it takes
seconds to a minute.
"""

import numpy as np
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets
from sklearn import model_selection

NUM_TRAIN = 1437
NUM_TEST = 360
_SPLIT_SEED = 0
_MAX_PIXEL = 16  # sklearn's digits count pixels on a 0..16 scale.

_DESCRIPTION = """\
Handwritten digits 0-9 as 8x8 grayscale images, the copy of the UCI "Optical
Recognition of Handwritten Digits" test set bundled with scikit-learn
(`sklearn.datasets.load_digits`). Each pixel counts the "on" pixels of a 4x4
block of a 32x32 bitmap (0..16); here it is rescaled to 0..255 and rounded.
The 1,797 images are split into 1,437 train and 360 test examples, stratified
by class with a fixed seed. Building needs no download.
"""

_CITATION = """\
@misc{alpaydin1998digits,
  author = {Alpaydin, E. and Kaynak, C.},
  title = {Optical Recognition of Handwritten Digits},
  year = {1998},
  howpublished = {UCI Machine Learning Repository},
  doi = {10.24432/C50P49}
}
"""


def load_arrays():
    """The bundled digits as the builder stores them.

    Returns:
      images: uint8 `[1797, 8, 8, 1]` in 0..255.
      labels: int64 `[1797]` in 0..9.
    """
    digits = sk_datasets.load_digits()
    scaled = np.round(digits.images * (255.0 / _MAX_PIXEL))
    images = scaled.astype(np.uint8)[..., np.newaxis]
    return images, digits.target.astype(np.int64)


def split_indices():
    """Indices into `load_arrays()` of the train and test splits.

    Returns:
      (train, test): int arrays of length 1,437 and 360, stratified by class.
    """
    _, labels = load_arrays()
    return model_selection.train_test_split(
        np.arange(len(labels)),
        test_size=NUM_TEST,
        stratify=labels,
        random_state=_SPLIT_SEED,
    )


def _digits_info(builder, side, description):
    """The `DatasetInfo` of a digits builder: `side` x `side` grayscale images, 10 classes."""
    return tfds.core.DatasetInfo(
        builder=builder,
        description=description,
        features=tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(side, side, 1)),
                "label": tfds.features.ClassLabel(names=[str(i) for i in range(10)]),
            }
        ),
        supervised_keys=("image", "label"),
        homepage="https://archive.ics.uci.edu/dataset/80",
        citation=_CITATION,
    )


class Digits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 handwritten digits; builds offline."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self):
        return _digits_info(self, 8, _DESCRIPTION)

    def _split_generators(self, dl_manager):
        del dl_manager  # The data ships with scikit-learn.
        train, test = split_indices()
        return {
            "train": self._generate_examples(train),
            "test": self._generate_examples(test),
        }

    def _generate_examples(self, indices):
        images, labels = load_arrays()
        for i in indices:
            yield int(i), {"image": images[i], "label": labels[i]}


# The expanded digits: MNIST-sized (60,000 train / 10,000 test 28x28 images)
# variations of the same real digits, for measuring how evaluation scales.
EXPANDED_SIZE = 28
EXPANDED_SPLITS = {"train": 60_000, "test": 10_000}
_EXPANDED_SEEDS = {"train": 1, "test": 2}
_DIGIT_SIDE = 20.0  # Pixels an 8x8 digit spans at scale 1 (MNIST's digit box).
_MAX_SHIFT = 3.0  # Pixels, each axis.
_MAX_ROTATION = np.deg2rad(15.0)
_SCALES = (0.85, 1.1)
_NOISE = 8.0  # Standard deviation of the added pixel noise, 0..255 scale.
_CHUNK = 5000  # Images transformed at once (memory: ~30 floats per pixel).

_EXPANDED_DESCRIPTION = """\
MNIST-sized variations of the embedded `digits`: 60,000 train and 10,000 test
28x28 grayscale images. Each is one of the 1,797 real 8x8 scikit-learn
digits enlarged to about 20x20 pixels, then randomly rotated (up to 15
degrees), scaled (0.85 to 1.1), shifted (up to 3 pixels) and given Gaussian
pixel noise, with fixed seeds. Train images vary the 1,437 train digits of
`digits`, test images the 360 held-out test digits. Building needs no
download and takes seconds.
"""


def expand(images, labels, count, seed):
    """`count` seeded random 28x28 variations of 8x8 digits.

    Output i varies digit `i % len(images)`: the digit is enlarged to about
    20x20 pixels (bilinear), rotated by up to 15 degrees, scaled by 0.85 to
    1.1, shifted by up to 3 pixels on each axis within the 28x28 frame, and
    Gaussian noise (standard deviation 8 of 255) is added.

    Args:
      images: uint8 `[n, 8, 8, 1]`.
      labels: int `[n]`.
      count: how many images to make.
      seed: the NumPy seed; the same seed gives the same images.

    Returns:
      images: uint8 `[count, 28, 28, 1]`; labels: int64 `[count]`.
    """
    rng = np.random.default_rng(seed)
    source = np.arange(count) % len(images)
    angle = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION, count)
    scale = rng.uniform(*_SCALES, count) * _DIGIT_SIDE / images.shape[1]
    shift = rng.uniform(-_MAX_SHIFT, _MAX_SHIFT, (count, 2))
    noise_seed = rng.integers(2**31)
    padded = np.pad(images[..., 0].astype(np.float32), ((0, 0), (1, 1), (1, 1)))
    out = np.empty((count, EXPANDED_SIZE, EXPANDED_SIZE), np.float32)
    for start in range(0, count, _CHUNK):
        rows = slice(start, min(start + _CHUNK, count))
        out[rows] = _warp(padded[source[rows]], angle[rows], scale[rows], shift[rows])
    noise = np.random.default_rng(noise_seed).standard_normal(out.shape, np.float32)
    out += _NOISE * noise
    expanded = np.round(np.clip(out, 0, 255)).astype(np.uint8)[..., np.newaxis]
    return expanded, labels[source].astype(np.int64)


def _warp(padded, angle, scale, shift):
    """Bilinear samples of zero-padded digits `[b, 10, 10]` -> `[b, 28, 28]`.

    Each output pixel is mapped back into its digit (the inverse of: scale,
    rotate, shift about the centres); outside the digit it reads the zero
    border.
    """
    centre = (EXPANDED_SIZE - 1) / 2
    grid = np.arange(EXPANDED_SIZE, dtype=np.float32) - centre
    column = lambda values: values.astype(np.float32)[:, None, None]  # noqa: E731
    u = grid[None, None, :] - column(shift[:, 0])
    v = grid[None, :, None] - column(shift[:, 1])
    cos, sin, scale = column(np.cos(angle)), column(np.sin(angle)), column(scale)
    side = padded.shape[1]
    digit_centre = (side - 1) / 2
    x = np.clip((cos * u + sin * v) / scale + digit_centre, 0, side - 1)
    y = np.clip((cos * v - sin * u) / scale + digit_centre, 0, side - 1)
    x0 = np.minimum(x.astype(np.int32), side - 2)  # x >= 0: truncation floors.
    y0 = np.minimum(y.astype(np.int32), side - 2)
    wx, wy = x - x0, y - y0
    # Flat indices into the chunk's pixels: one cheap gather per corner.
    flat = padded.reshape(-1)
    index = np.arange(len(padded), dtype=np.int32)[:, None, None] * side * side
    index = index + y0 * side + x0
    top = flat[index] * (1 - wx) + flat[index + 1] * wx
    bottom = flat[index + side] * (1 - wx) + flat[index + side + 1] * wx
    return top * (1 - wy) + bottom * wy


class DigitsExpanded(tfds.core.GeneratorBasedBuilder):
    """60,000 / 10,000 28x28 variations of the 8x8 digits; builds offline."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self):
        return _digits_info(self, EXPANDED_SIZE, _EXPANDED_DESCRIPTION)

    def _split_generators(self, dl_manager):
        del dl_manager  # Made from the digits that ship with scikit-learn.
        images, labels = load_arrays()
        # Test images vary only the held-out test digits: no test image is a
        # variation of a digit the probes were trained on.
        return {
            split: self._generate_examples(
                images[rows],
                labels[rows],
                EXPANDED_SPLITS[split],
                _EXPANDED_SEEDS[split],
            )
            for split, rows in zip(("train", "test"), split_indices())
        }

    def _generate_examples(self, images, labels, count, seed):
        expanded, expanded_labels = expand(images, labels, count, seed)
        # One graph call encodes every PNG: TFDS would run one per image,
        # several times slower.
        encoded = _encode_pngs(expanded)
        for i in range(count):
            yield i, {"image": encoded[i], "label": expanded_labels[i]}


def _encode_pngs(images):
    """PNG bytes of each of uint8 `[N, H, W, C]` images (a list of N bytes)."""
    import tensorflow as tf  # noqa: PLC0415  (only when the dataset is built)

    encode = tf.function(
        lambda batch: tf.map_fn(
            tf.io.encode_png,
            batch,
            fn_output_signature=tf.string,
            parallel_iterations=64,
        )
    )
    return list(encode(tf.constant(images)).numpy())
