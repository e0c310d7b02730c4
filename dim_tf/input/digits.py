"""The embedded default dataset: scikit-learn's handwritten digits, as TFDS `digits`.

Importing this module registers the builder, so `tfds.load("digits")` builds
the dataset offline from the copy bundled with scikit-learn: 1,797 real 8x8
grayscale images of the digits 0-9, split into 1,437 train and 360 test
examples (stratified by class, fixed seed).
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


class Digits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 handwritten digits; builds offline."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(
                        names=[str(i) for i in range(10)]
                    ),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
            citation=_CITATION,
        )

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
