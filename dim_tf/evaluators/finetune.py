"""Evaluators `finetune` and `finetune_label_fractions`: the paper's "SS" probe.

Each tap's `mlp` head is trained together with a copy of the encoder on the
images of `config.data.eval_train_split` (the same first
`eval.max_train_examples` the frozen features come from), then measured on
`config.data.eval_split`. Rows (results.json `probes`):
`{"tap", "kind": "finetune", "test_accuracy"}`; scalars `probe/finetune_{tap}`.

`finetune_label_fractions` trains the same probes on each fraction of
`eval.label_fractions` of each class's labels (`label_subsets`), with as
many optimizer steps as on all labels. Rows (results.json
`label_fraction_probes`): `{"tap", "kind": "finetune", "label_fraction",
"num_train_examples", "test_accuracy"}`; scalars
`labels_{percent}pct/finetune_{tap}`.
"""

import tensorflow as tf

from dim_tf.evaluators import features as features_lib
from dim_tf.evaluators import label_subsets, probes
from dim_tf.evaluators.features import TapEvaluator
from dim_tf.evaluators.results import Result

# Whether it needs labeled data (the probes train on labels); on a dataset without labels only
# the evaluators with False run.
NEEDS_LABELS = True


class Evaluator(TapEvaluator):
    """Fine-tunes one classifier per tap (and label subset; "trained" source only).

    Args: see `features.TapEvaluator` (`name`: "finetune" for all labels or
    "finetune_label_fractions"; `eval_config`: batch_size, finetune, seed,
    max_train_examples, label_fractions). The
    frozen features set each head's input normalisation.
    """

    def __init__(self, name, eval_config, taps, source="trained"):
        if source != "trained":
            raise ValueError("fine-tuned probes start from the trained encoder")
        super().__init__(name, eval_config, taps, source)
        if name != "finetune":
            self.num_results = len(taps) * label_subsets.subset_count(
                "label_fractions", eval_config
            )

    def run(self, step):
        """Yields one `Result` per tap and subset (its `model`: images -> logits)."""
        run, eval_config = step.run, self.eval_config
        train, _ = step.features.get(self.source)
        test_images = features_lib.eval_dataset(run, run.eval_split)
        if self.name == "finetune":
            images = _train_images(run, eval_config)
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
            subset_config = eval_config.copy_and_resolve_references()
            subset_config.finetune.epochs = label_subsets.matched_epochs(
                len(train.labels),
                len(rows),
                eval_config.batch_size,
                eval_config.finetune.epochs,
                drop_remainder=True,
            )
            images = _train_images(run, eval_config, rows)
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
      step: the evaluation `Step` (run, classes, log).
      tap: the encoder output feeding the head.
      features: float32 `[N, D]` frozen features of the training examples.
      images: their single examples `(image, label)` (`_train_images`).
      test_images: batches `(images, labels)` of the eval split.
      eval_config: the `config.eval` section (finetune, ...).
      note: appended to the progress line (e.g. ", 1% labels").
    """
    epochs = eval_config.finetune.epochs
    step.log(f"Fine-tuned probe on {tap}{note} ({epochs} epoch{'s' * (epochs != 1)})")
    classifier = probes.train_finetune_probe(
        step.run.encoder_copy(),
        tap,
        features,
        images,
        step.num_classes,
        eval_config,
        eval_config.seed,
    )
    return classifier, probes.dataset_accuracy(classifier, test_images)


def _train_images(run, eval_config, rows=None):
    """Single examples `(image, label)` of the eval train split the features came from.

    Args:
      run: the `dim_tf.training.runs.Run`.
      eval_config: the `config.eval` section (max_train_examples).
      rows: indices (into the features) of the examples to keep, or None for
        all of them.
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
    if data.cache:
        images = images.cache()
    return images
