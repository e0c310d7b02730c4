"""Frozen features of the eval splits, extracted once per evaluation step and shared.

One pass per encoder over each split, keeping float32 features of the taps
some evaluator needs; at most `eval.max_train_examples` of the eval train
split, and maps pooled within `eval.max_tap_features` (`pooling`), since
they live in memory.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from dim_tf.evaluators import cpu, pooling, report, settings
from dim_tf.evaluators.progress import PassProgress
from dim_tf.input import eval_sets

# Images per feature batch: about this many input pixels, within the bounds
# (speed and memory, not results).
_BATCH_PIXELS = 2**20
MIN_BATCH, MAX_BATCH = 256, 1024


@dataclasses.dataclass
class Features:
    """Flattened features of a labeled split.

    Attributes:
      taps: tap name -> float32 `[N, D_tap]`.
      labels: int32 `[N]`.
      images: float32 `[n, S', S', C]` in [-1, 1], the first n <= N model
        inputs (kept for MINE, the decoder and the TensorBoard views),
        halved to S' when `[S, S, C]` exceeds the bound.
      pooled: name ("images" or a tap) -> `(shape, pooled shape)` of what
        was pooled to stay within `eval.max_tap_features`.
    """

    taps: dict
    labels: np.ndarray
    images: np.ndarray
    pooled: dict = dataclasses.field(default_factory=dict)


def compiled(fn, *input_signature):
    """`fn` traced once for `input_signature` (no retracing warnings across probes)."""
    return tf.function(fn).get_concrete_function(*input_signature)


def extract_features(
    encoder,
    dataset,
    taps,
    keep_images=0,
    max_examples=0,
    on_batch=None,
    max_features=0,
):
    """Runs the frozen encoder (inference mode) over a labeled dataset.

    Args:
      encoder: model from `dim_tf.models.encoders.build_encoder`.
      dataset: batches `(images [b, S, S, C], labels [b])`, e.g. from
        `dim_tf.input.eval_sets.make_eval_dataset`.
      taps: names of the encoder outputs to keep.
      keep_images: how many of the first images to keep as well.
      max_examples: read at most this many examples (0 = all).
      on_batch: optional callable, called after each batch.
      max_features: a map tap (or kept image) with more floats per example
        is pooled (`pooling.map_side`, `pooling.image_side`); 0 = never.

    Returns:
      `Features`.
    """
    taps = tuple(taps)
    image_spec = dataset.element_spec[0]
    pooled = {}
    for tap in taps:
        shape = tuple(encoder.output[tap].shape[1:])
        side = pooling.map_side(shape, max_features)
        if side:
            pooled[tap] = (shape, (side, side, shape[-1]))
    image_shape = tuple(image_spec.shape[1:])
    image_side = keep_images and pooling.image_side(image_shape, max_features)
    if image_side:
        pooled["images"] = (image_shape, (image_side, image_side, image_shape[-1]))

    def features_of(images):
        outputs = encoder(images, training=False)
        rows = tf.shape(images)[0]
        values = {}
        for tap in taps:
            value = tf.cast(outputs[tap], tf.float32)
            if tap in pooled:
                value = pooling.pool(value, pooled[tap][1][0])
            values[tap] = tf.reshape(value, [rows, -1])
        return values

    features_of = compiled(features_of, tf.TensorSpec([None, *image_spec.shape[1:]]))
    columns = {tap: _Rows(_cardinality(dataset), max_examples) for tap in taps}
    labels, images_kept, kept, seen = [], [], 0, 0
    for images, batch_labels in dataset:
        if max_examples:
            if seen >= max_examples:
                break
            images = images[: max_examples - seen]
            batch_labels = batch_labels[: max_examples - seen]
        seen += len(batch_labels)
        parts = cpu.map_concurrently(
            features_of, _row_parts(images, cpu.parallel_calls())
        )
        for tap, rows in columns.items():
            values = [part[tap].numpy() for part in parts]
            rows.append(values[0] if len(values) == 1 else np.concatenate(values))
        labels.append(batch_labels.numpy())
        if kept < keep_images:
            shown = images[: keep_images - kept]
            if image_side:
                shown = pooling.pool(shown, image_side)
            images_kept.append(shown.numpy())
            kept += len(images_kept[-1])
        if on_batch is not None:
            on_batch()
    return Features(
        taps={tap: rows.array() for tap, rows in columns.items()},
        labels=np.concatenate(labels).astype(np.int32),
        images=(
            np.concatenate(images_kept)
            if images_kept
            else np.zeros((0, *image_spec.shape[1:]), np.float32)
        ),
        pooled=pooled,
    )


def _row_parts(batch, count):
    """`batch` split along its first axis into up to `count` parts of about equal size."""
    size = max(1, -(-len(batch) // count))
    return [batch[start : start + size] for start in range(0, len(batch), size)]


class _Rows:
    """Batches of rows gathered into one float32 array, allocated at the first batch.

    Written once rather than concatenated from pieces at the end.

    Args:
      batches: how many batches will come, or None when not known.
      max_examples: at most this many rows will come (0 = no limit).
    """

    def __init__(self, batches, max_examples=0):
        self._batches, self._max = batches, max_examples
        self._array, self._pieces, self._count = None, [], 0

    def append(self, batch):
        """Adds float32 `[b, D]` rows."""
        if self._batches is not None and self._array is None:
            bound = self._batches * len(batch)
            bound = min(bound, self._max) if self._max else bound
            self._array = np.empty((bound, batch.shape[1]), np.float32)
        if self._array is not None and self._count + len(batch) > len(self._array):
            # More rows than the first batch promised: gather pieces instead.
            self._pieces, self._array = [self._array[: self._count]], None
            self._batches = None
        if self._array is None:
            self._pieces.append(batch)
        else:
            self._array[self._count : self._count + len(batch)] = batch
        self._count += len(batch)

    def array(self):
        """The rows so far: float32 `[N, D]`."""
        if self._array is None:
            return np.concatenate(self._pieces)
        return self._array[: self._count]


def _cardinality(dataset):
    """How many elements `dataset` has, or None when unknown or infinite."""
    count = int(dataset.cardinality())
    return count if count >= 0 else None


def _batch_count(dataset, batch, max_examples=0):
    """Batches of `batch` `extract_features` reads of `dataset` (0 when not known)."""
    count = _cardinality(dataset)
    if count is None:
        return 0
    if max_examples:
        count = min(count, -(-max_examples // batch))
    return count


def feature_batch(image_size):
    """Images per batch of the feature passes for `image_size` x `image_size` input."""
    return min(MAX_BATCH, max(MIN_BATCH, _BATCH_PIXELS // image_size**2))


def eval_dataset(run, split):
    """Batches `(images, labels)` of `split` as the run's encoder takes them."""
    return eval_sets.make_eval_dataset(
        run.config.data,
        split,
        run.image_size,
        feature_batch(run.image_size),
        center_crop=run.center_crop,
    )


class StepFeatures:
    """The features of one evaluation step, extracted on first use and shared.

    Args:
      run: `dim_tf.training.runs.Run` (its encoder is the "trained" source).
      needs: iterable of `Need`; the union per source is extracted.
      log: callable taking a progress line (a feature pass reports each
        quarter with an ETA), or None.
    """

    def __init__(self, run, needs, log=None):
        self.run = run
        self._log = log or (lambda line: None)
        self._needs = {}
        for need in needs:
            taps, train, test = self._needs.get(need.source, ((), 0, 0))
            self._needs[need.source] = (
                tuple(dict.fromkeys((*taps, *need.taps))),
                max(train, need.train_images),
                max(test, need.test_images),
            )
        self._cache = {}
        self.passes = 0  # Encoder passes over both splits made so far.

    def get(self, source="trained"):
        """`(train, test)` `Features` of encoder `source`, extracted at most once."""
        if source not in self._cache:
            self._cache[source] = self._extract(source)
        return self._cache[source]

    def release(self, source):
        """Frees the features of `source`; a later `get` would extract them again."""
        self._cache.pop(source, None)

    def _extract(self, source):
        taps, keep_train, keep_test = self._needs[source]
        run, eval_config = self.run, self.run.config.eval
        if source == "trained":
            encoder = run.encoder
        else:
            # Seeded so the baseline's weights are the same on every run.
            keras.utils.set_random_seed(eval_config.seed + 1)
            encoder = run.fresh_encoder()
        limit = eval_config.max_train_examples
        tap_bound = settings.tap_features_bound(run.config)
        batch = feature_batch(run.image_size)
        train_batches = eval_dataset(run, run.eval_train_split)
        test_batches = eval_dataset(run, run.eval_split)
        on_batch = PassProgress(
            self._log,
            f"features/{source}",
            _batch_count(train_batches, batch, limit)
            + _batch_count(test_batches, batch),
        )
        train = extract_features(
            encoder,
            train_batches,
            taps,
            keep_images=keep_train,
            max_examples=limit,
            on_batch=on_batch,
            max_features=tap_bound,
        )
        test = extract_features(
            encoder,
            test_batches,
            taps,
            keep_images=keep_test,
            on_batch=on_batch,
            max_features=tap_bound,
        )
        for name, (shape, pooled) in {**train.pooled, **test.pooled}.items():
            self._log(
                f"features/{source} {name}: {report.shape_text(shape)} average-"
                f"pooled to {report.shape_text(pooled)} (eval.max_tap_features="
                f"{tap_bound})"
            )
        self.passes += 1
        return train, test
