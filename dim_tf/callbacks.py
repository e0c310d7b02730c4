"""Keras callbacks for `DeepInfoMax.fit`: `KNNMonitor`, the kNN accuracy per epoch.

The same kNN as `bin/evaluate`'s `knn` evaluator (`dim_tf.evaluators.knn`).
"""

import keras
import numpy as np
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.evaluators import features, knn
from dim_tf.input.model_input import check_pixels, raw_images_to_model_input

_BATCH = 256


class KNNMonitor(keras.callbacks.Callback):
    """Logs `knn_{tap}`: weighted kNN test accuracy on the encoder's features.

    Every `every` epochs it embeds both sets with the encoder (inference
    mode) and classifies the test set by its k nearest training examples
    (cosine similarity, votes weighted exp(similarity / T)). The accuracy in
    [0, 1] goes into the epoch's `logs`, so History and TensorBoard see it.

    Args:
      train_images, test_images: pixel values in [0, 255] `[N, H, W, C]`
        (uint8 as stored), converted as `DeepInfoMax` converts its input.
      train_labels, test_labels: int `[N]` class ids from 0.
      k: neighbours per test example.
      temperature: T of the vote weights.
      every: epochs between measurements (after epochs every, 2 every, ...).
      taps: encoder outputs to measure.
      encoder: the encoder; None = the trained model's `encoder`.

    Raises:
      UserError: pixels not in [0, 255], `k` or `every` < 1, images and
        labels of different lengths; at `fit`, a tap the encoder lacks.
    """

    def __init__(
        self,
        train_images,
        train_labels,
        test_images,
        test_labels,
        k=200,
        temperature=0.1,
        every=1,
        taps=("y",),
        encoder=None,
    ):
        super().__init__()
        for name, value in (("k", k), ("every", every)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise UserError(f"KNNMonitor {name}={value!r}; use an integer >= 1")
        for split, images, labels in (
            ("train", train_images, train_labels),
            ("test", test_images, test_labels),
        ):
            if len(images) != len(labels) or not len(images):
                raise UserError(
                    f"KNNMonitor got {len(images)} {split} images and "
                    f"{len(labels)} labels; pass one label per image (at least one)"
                )
            check_pixels(np.asarray(images), "KNNMonitor")
        self._train = (np.asarray(train_images), np.asarray(train_labels, np.int32))
        self._test = (np.asarray(test_images), np.asarray(test_labels, np.int32))
        self.k, self.temperature, self.every = k, temperature, every
        self.taps = tuple(taps)
        self._encoder = encoder
        self._classes = int(max(self._train[1].max(), self._test[1].max())) + 1

    def on_train_begin(self, logs=None):
        encoder = self._encoder or self.model.encoder
        size, _, channels = encoder.inputs[0].shape[1:]
        outputs = encoder(tf.zeros((1, size, size, channels)), training=False)
        missing = [tap for tap in self.taps if tap not in outputs]
        if missing:
            raise UserError(
                f"KNNMonitor taps {', '.join(missing)}: the encoder has no such "
                f"output; choose from {', '.join(sorted(outputs))}"
            )

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        encoder = self._encoder or self.model.encoder
        train = self._features(encoder, *self._train)
        test = self._features(encoder, *self._test)
        for tap in self.taps:
            predicted = knn.knn_predict(
                train.taps[tap],
                train.labels,
                test.taps[tap],
                self._classes,
                self.k,
                self.temperature,
            )
            accuracy = float(np.mean(predicted == test.labels))
            if logs is not None:
                logs[f"knn_{tap}"] = accuracy

    def _features(self, encoder, images, labels):
        size, _, channels = encoder.inputs[0].shape[1:]
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(_BATCH)
        dataset = dataset.map(
            lambda x, y: (raw_images_to_model_input(x, size, channels=channels), y)
        )
        return features.extract_features(encoder, dataset, self.taps)
