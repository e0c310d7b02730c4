"""Evaluators `few_labels` and `label_fractions`: linear probes on part of the labels.

Full-label probes on easy data saturate for any features; trained on a few
labels of each class they tell representations apart (the semi-supervised
protocol of SimCLR / BYOL: 1% and 10% of ImageNet's labels). The subset is
stratified (`stratified_rows`):

- `few_labels`: the first `eval.few_labels` examples of each class of the
  eval train split (in its file order);
- `label_fractions`: for each fraction f of `eval.label_fractions`,
  round(f x n_c) examples of each class c (at least one), drawn with
  `eval.seed`.

Each probe takes as many optimizer steps as a full-label probe at
`eval.batch_size` (`matched_epochs`), so a small set is not under-trained. Rows (results.json
`few_label_probes` / `label_fraction_probes`, or under `random_encoder/`):
`{"tap", "kind": "linear", "labels_per_class" | "label_fraction",
"num_train_examples", "test_accuracy"}`; scalars `few_labels/linear_{tap}`
and `labels_{percent}pct/linear_{tap}` (prefixed `random/` for the baseline).
The fine-tuned probes on label fractions are `finetune`'s.
"""

import math

import numpy as np

from dim_tf.evaluators import probes, settings
from dim_tf.evaluators.features import TapEvaluator
from dim_tf.evaluators.results import Result

# Whether it needs labeled data; on a dataset without labels only the
# evaluators with False run.
NEEDS_LABELS = True


def stratified_rows(
    labels, num_classes, per_class=None, fraction=None, seed=0, minimum=1
):
    """Row indices of a per-class subset of `labels`, class by class.

    Args:
      labels: int `[N]`.
      num_classes: K; classes without examples contribute nothing.
      per_class: take the first `per_class` rows of each class, or
      fraction: take round(fraction x n_c) rows of class c (at least
        `minimum`, at most n_c), a seeded random draw.
      seed: seeds the draw of `fraction`.
      minimum: the fewest rows of a class that has examples (`fraction` only).

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

    Args:
      full_examples, subset_examples: examples of the full set and the subset.
      batch_size: examples per step over the full set (capped at the set's
        size when `drop_remainder`, as the fine-tuned probes batch).
      epochs: epochs over the full set.
      drop_remainder: whether a partial last batch is dropped.
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

    `fields` is what results.json rows say of the subset
    (`{"labels_per_class": n}` or `{"label_fraction": f}`), `rows` its
    `stratified_rows`.
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
    """How many label subsets `subsets(name, ...)` gives (for the progress lines)."""
    if name == "few_labels":
        return 1 if eval_config.few_labels else 0
    return len(settings.label_fractions(eval_config))


def subset_result(evaluator, kind, tap, fields, rows, accuracy):
    """The `Result` of a `kind` probe on `tap` trained on the label subset `rows`.

    Args:
      evaluator: the `features.TapEvaluator` that trained it.
      kind: "linear" or "finetune".
      tap: the tap.
      fields: the subset's fields (`subsets`).
      rows: the subset's row indices.
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


class Evaluator(TapEvaluator):
    """Linear probes on label subsets of the features of encoder `source`.

    Args: see `features.TapEvaluator` (`name`: "few_labels" or
    "label_fractions"; `eval_config`: few_labels or label_fractions, epochs,
    batch_size, learning_rate, seed).
    """

    side_by_side = True  # Every subset's probe on every tap trains concurrently.

    def __init__(self, name, eval_config, taps, source="trained"):
        super().__init__(name, eval_config, taps, source)
        self.num_results = len(taps) * subset_count(name, eval_config)

    def run(self, step):
        """Yields one `Result` per subset and tap; nothing when there is no subset."""
        yield from self.start(step)

    def start(self, step):
        """Queues every subset's probe on every tap in `step.probe_pool`.

        They are small (their steps are mostly overhead) and train side by
        side in the background, behind any queued before them.

        Returns:
          `run`'s iterator: each `Result` is made once its probe is trained.
        """
        eval_config = self.eval_config
        train, test = step.features.get(self.source)
        jobs, names = [], []
        for fields, rows in subsets(
            self.name, eval_config, train.labels, step.num_classes
        ):
            subset_config = eval_config.copy_and_resolve_references()
            # As many steps as a full-label linear probe: steps matched to
            # the fewer, larger batches of an `mlp` probe
            # (`frozen_training.batch_scale`) cost accuracy (docs/benchmarks.md).
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
        heads = step.probe_pool.submit(
            "linear", jobs, step.num_classes, eval_config.seed
        )
        return self._results(names, heads, test)

    def _results(self, names, heads, test):
        for (tap, fields, rows), head in zip(names, heads):
            accuracy = probes.accuracy(head, test.taps[tap], test.labels)
            yield subset_result(self, "linear", tap, fields, rows, accuracy)
