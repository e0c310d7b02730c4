"""Evaluator `few_labels`: linear probes on a few labeled examples per class.

Full-label probes on easy data saturate for any features; trained on only the
first `eval.few_labels` examples of each class (of the eval train split) they
tell representations apart. Each takes as many optimizer steps as a
full-label probe at `eval.batch_size` (unscaled, see `probes.batch_scale`),
so the small set is not under-trained. Rows (results.json
`few_label_probes`, or `random_encoder/few_label_probes`): `{"tap", "kind":
"linear", "labels_per_class", "num_train_examples", "test_accuracy"}`;
scalars `few_labels/linear_{tap}` (`random/few_labels/linear_{tap}`).
"""

import math

import numpy as np

from dim_tf.evaluators import probes
from dim_tf.evaluators.features import Need
from dim_tf.evaluators.results import Result


class Evaluator:
    """Few-label linear probes on the features of encoder `source`.

    Args:
      name: "few_labels".
      eval_config: the `config.eval` section (few_labels, epochs,
        batch_size, learning_rate, seed).
      taps: tuple of taps.
      source: "trained" or "random".
    """

    def __init__(self, name, eval_config, taps, source="trained"):
        self.name, self.eval_config, self.taps = name, eval_config, taps
        self.source = source
        self.needs = (Need(source, taps),)
        # The progress lines' part count: nothing runs without few_labels.
        self.num_results = len(taps) if eval_config.few_labels else 0

    def run(self, step):
        """Yields one `Result` per tap; nothing when `eval.few_labels` is 0."""
        eval_config = self.eval_config
        per_class = eval_config.few_labels
        if not per_class:
            return
        train, test = step.features.get(self.source)
        rows = np.concatenate(
            [
                np.flatnonzero(train.labels == c)[:per_class]
                for c in range(step.num_classes)
            ]
        )
        batch = eval_config.batch_size
        steps = eval_config.epochs * math.ceil(len(train.labels) / batch)
        few_config = eval_config.copy_and_resolve_references()
        few_config.epochs = math.ceil(steps / math.ceil(len(rows) / batch))
        prefix, section = (
            ("", "few_label_probes")
            if self.source == "trained"
            else ("random/", "random_encoder/few_label_probes")
        )
        for tap in self.taps:
            head = probes.train_frozen_probe(
                "linear",
                (train.taps[tap][rows], train.labels[rows]),
                step.num_classes,
                few_config,
                eval_config.seed,
            )
            accuracy = probes.accuracy(head, test.taps[tap], test.labels)
            row = {
                "tap": tap,
                "kind": "linear",
                "labels_per_class": per_class,
                "num_train_examples": int(len(rows)),
                "test_accuracy": accuracy,
            }
            yield Result(f"{prefix}few_labels/linear_{tap}", accuracy, section, row)
