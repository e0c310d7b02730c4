"""Evaluators `finetune` and `finetune_label_fractions`: the paper's "SS" probe.

Each tap's `mlp` head trained with a copy of the encoder on the images the
frozen features came from (or a label fraction of them, `label_subsets`).
Rows: results.json `probes` `{"tap", "kind": "finetune", "test_accuracy"}`
(scalars `probe/finetune_{tap}`), or `label_fraction_probes` (scalars
`labels_{percent}pct/finetune_{tap}`).
"""

import math

import tensorflow as tf

from dim_tf.evaluators import base
from dim_tf.evaluators import features as features_lib
from dim_tf.evaluators.base import Result
from dim_tf.evaluators.probes import heads, label_subsets

# The training images are cached (`data.cache`) only within this many float32
# values (4 GiB: 50,000 images of 64x64x3 fit, 224-pixel ones do not).
MAX_CACHED_FLOATS = 2**30


class Evaluator(base.Evaluator):
    """Fine-tunes one classifier per tap (and label fraction) of the trained encoder."""

    def __init__(self, name, eval_config, taps, source="trained"):
        if source != "trained":
            raise ValueError("fine-tuned probes start from the trained encoder")
        super().__init__(name, eval_config, taps, source)
        if name != "finetune":
            self.num_results = len(taps) * label_subsets.subset_count(
                "label_fractions", eval_config
            )

    def run(self, step):
        run, eval_config = step.run, self.eval_config
        train, _ = step.features.get(self.source)
        test_images = features_lib.eval_dataset(run, run.eval_split)
        if self.name == "finetune":
            images = _train_images(run, eval_config, count=len(train.labels))
            for tap in self.taps:
                classifier, accuracy = _fine_tune(
                    step, tap, train.taps[tap], images, test_images, eval_config
                )
                row = {"tap": tap, "kind": "finetune", "test_accuracy": accuracy}
                yield Result(
                    f"probe/finetune_{tap}", accuracy, "probes", row, classifier
                )
            return
        for fields, rows in label_subsets.subsets(
            "label_fractions", eval_config, train.labels, step.num_classes
        ):
            images = _train_images(run, eval_config, rows)
            subset_config = eval_config.copy_and_resolve_references()
            subset_config.finetune.epochs = subset_epochs(
                eval_config, len(train.labels), len(rows), images
            )
            for tap in self.taps:
                _, accuracy = _fine_tune(
                    step,
                    tap,
                    train.taps[tap][rows],
                    images,
                    test_images,
                    subset_config,
                    f", {100 * fields['label_fraction']:g}% labels",
                )
                yield label_subsets.subset_result(
                    self, "finetune", tap, fields, rows, accuracy
                )


def _fine_tune(step, tap, features, images, test_images, eval_config, note=""):
    """Trains a fine-tuned probe on `tap`; returns `(classifier, test accuracy)`.

    Args:
      step: the evaluation `Step`.
      tap: the encoder output feeding the head.
      features: float32 `[N, D]` frozen features (set the head's normalisation).
      images: their single examples `(image, label)` (`_train_images`).
      test_images: batches `(images, labels)` of the eval split.
      eval_config: the `config.eval` section.
      note: appended to the progress line (e.g. ", 1% labels").
    """
    epochs = eval_config.finetune.epochs
    step.log(f"Fine-tuned probe on {tap}{note} ({epochs} epoch{'s' * (epochs != 1)})")
    classifier = heads.train_finetune_probe(
        step.run.encoder_copy(),
        tap,
        features,
        images,
        step.num_classes,
        eval_config,
        eval_config.seed,
    )
    return classifier, heads.dataset_accuracy(classifier, test_images)


def _train_images(run, eval_config, rows=None, count=None):
    """Single examples `(image, label)` the features came from (only `rows`, if given).

    `count`: how many there are (without `rows`); cached only when they fit
    `MAX_CACHED_FLOATS`.
    """
    data = run.config.data
    images = features_lib.eval_dataset(run, run.eval_train_split).unbatch()
    limit = eval_config.max_train_examples  # 0 = all.
    if limit:
        images = images.take(limit)
    if rows is not None:
        keep = tf.scatter_nd(
            tf.constant(rows[:, None]),
            tf.ones([len(rows)], tf.bool),
            [int(max(rows)) + 1],
        )
        images = (
            images.take(len(keep))
            .enumerate()
            .filter(lambda i, example: keep[i])
            .map(lambda i, example: example)
        )
    count = len(rows) if rows is not None else count
    floats = math.prod(images.element_spec[0].shape)
    if data.cache and count is not None and count * floats <= MAX_CACHED_FLOATS:
        images = images.cache()
    return images


def subset_epochs(eval_config, full_count, subset_count, images):
    """Epochs over a label subset with the optimizer steps of the full probe.

    Args:
      eval_config: `config.eval`.
      full_count, subset_count: labeled training examples, all and the subset's.
      images: dataset of single examples `(image [S, S, C], label)`; its
        image size bounds the batch as in `heads.finetune_batch`.
    """
    return label_subsets.matched_epochs(
        full_count,
        subset_count,
        heads.finetune_batch(eval_config.batch_size, full_count, images),
        eval_config.finetune.epochs,
        drop_remainder=True,
    )
