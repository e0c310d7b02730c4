"""Evaluators `few_labels` and `label_fractions`: linear probes on part of the labels.

SimCLR / BYOL's semi-supervised protocol, where full-label probes saturate:
the first `eval.few_labels` examples of each class, or a seeded fraction of
each class per `eval.label_fractions`, each probe with as many steps as on
all labels (`matched_epochs`). Rows (results.json `few_label_probes` /
`label_fraction_probes`, or under `random_encoder/`): `{"tap", "kind",
"labels_per_class" | "label_fraction", "num_train_examples",
"test_accuracy"}`; scalars `few_labels/linear_{tap}`,
`labels_{percent}pct/linear_{tap}`.
"""

import math

import numpy as np

from dim_tf.evaluators import base, settings
from dim_tf.evaluators.base import Result
from dim_tf.evaluators.probes import heads


def stratified_rows(
    labels, num_classes, per_class=None, fraction=None, seed=0, minimum=1
):
    """Row indices of a per-class subset of `labels`, class by class.

    Args:
      labels: int `[N]`.
      num_classes: K.
      per_class: take the first `per_class` rows of each class, or
      fraction: a `seed`ed draw of round(fraction x n_c) (>= `minimum`) rows of class c.

    Returns:
      int64 `[n]` row indices: class 0's (ascending), then class 1's, ...
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        rows = np.flatnonzero(labels == c)
        if per_class is not None:
            chosen.append(rows[:per_class])
        else:
            count = min(len(rows), max(minimum, round(fraction * len(rows))))
            chosen.append(np.sort(rng.choice(rows, count, replace=False)))
    return np.concatenate(chosen).astype(np.int64)


def matched_epochs(
    full_examples,
    subset_examples,
    batch_size,
    epochs,
    drop_remainder,
):
    """Epochs over a subset that take as many optimizer steps as `epochs` over all.

    `drop_remainder`: a partial last batch is dropped (and a batch capped at
    the set's size), as the fine-tuned probes batch.
    """

    def steps_per_epoch(count, batch):
        if drop_remainder:
            return max(1, count // min(batch, count))
        return math.ceil(count / batch)

    steps = epochs * steps_per_epoch(full_examples, batch_size)
    subset_steps = steps_per_epoch(subset_examples, batch_size)
    return math.ceil(steps / subset_steps)


def subsets(name, eval_config, labels, num_classes):
    """The label subsets of evaluator `name`: a list of `(fields, rows)`.

    `fields`: the rows' `{"labels_per_class": n}` or `{"label_fraction": f}`.
    """
    if name == "few_labels":
        per_class = eval_config.few_labels
        if not per_class:
            return []
        rows = stratified_rows(labels, num_classes, per_class=per_class)
        return [({"labels_per_class": per_class}, rows)]
    return [
        (
            {"label_fraction": fraction},
            stratified_rows(
                labels, num_classes, fraction=fraction, seed=eval_config.seed
            ),
        )
        for fraction in settings.label_fractions(eval_config)
    ]


def subset_count(name, eval_config):
    """How many label subsets `subsets(name, ...)` gives."""
    if name == "few_labels":
        return 1 if eval_config.few_labels else 0
    return len(settings.label_fractions(eval_config))


def subset_result(evaluator, kind, tap, fields, rows, accuracy):
    """The `Result` of a `kind` probe on `tap` trained on the label subset `rows`.

    Args:
      evaluator: the `base.Evaluator` that trained it.
      kind: "linear" or "finetune".
      tap, fields, rows: the tap and the subset (`subsets`).
      accuracy: the probe's test accuracy.
    """
    if "labels_per_class" in fields:
        tag, key = "few_labels", "few_label_probes"
    else:
        tag, key = (
            f"labels_{100 * fields['label_fraction']:g}pct",
            "label_fraction_probes",
        )
    row = {
        "tap": tap,
        "kind": kind,
        **fields,
        "num_train_examples": int(len(rows)),
        "test_accuracy": accuracy,
    }
    return Result(
        evaluator.tag(f"{tag}/{kind}_{tap}"), accuracy, evaluator.section(key), row
    )


class Evaluator(base.Evaluator):
    """Linear probes on each label subset and tap, trained in `step.probe_pool`."""

    background = True

    def __init__(self, name, eval_config, taps, source="trained"):
        super().__init__(name, eval_config, taps, source)
        self.num_results = len(taps) * subset_count(name, eval_config)

    def run(self, step):
        yield from self.start(step)

    def start(self, step):
        eval_config = self.eval_config
        train, test = step.features.get(self.source)
        jobs, names = [], []
        for fields, rows in subsets(
            self.name, eval_config, train.labels, step.num_classes
        ):
            subset_config = eval_config.copy_and_resolve_references()
            # Steps of a full-label linear probe (docs/benchmarks.md).
            subset_config.epochs = matched_epochs(
                len(train.labels),
                len(rows),
                eval_config.batch_size,
                eval_config.epochs,
                drop_remainder=False,
            )
            for tap in self.taps:
                jobs.append(
                    ((train.taps[tap][rows], train.labels[rows]), subset_config)
                )
                names.append((tap, fields, rows))
        trained = step.probe_pool.submit(
            "linear", jobs, step.num_classes, eval_config.seed
        )
        return self._results(names, trained, test)

    def _results(self, names, trained, test):
        for (tap, fields, rows), head in zip(names, trained):
            accuracy = heads.accuracy(head, test.taps[tap], test.labels)
            yield subset_result(self, "linear", tap, fields, rows, accuracy)
