"""Evaluators by name: the one place that lists them.

Each name maps to a module with an `Evaluator` class (big_vision's
`evaluators/` shape): `Evaluator(name, eval_config, taps, source)` declares
the features it needs (`needs`) and its `run(step)` yields `results.Result`s, whose
`(name, value)` pairs go to results.json, the table and TensorBoard alike. A
new measure is a module here and one line in `_MODULES`. For the progress
lines (`dim_tf.evaluators.progress`) an `Evaluator` may also say its `name`
(else its module's) and `num_results`, how many `Result`s it yields (else
one per tap of `taps`). One whose work can run in the background (the
frozen probes, trained in the step's `probe_pool`) also has `start(step)`:
it begins that work and returns the iterator `run(step)` would give; an
evaluation starts every such evaluator before running the others.

- `linear`, `mlp`: probes on frozen features (`frozen_probes`);
- `finetune`: the paper's "SS" probe, trained with a copy of the encoder
  (`finetune`), and `finetune_label_fractions`, the same on label fractions;
- `knn`: weighted k-nearest-neighbour classification (`knn`);
- `svm`: linear SVMs (`svm`);
- `few_labels`, `label_fractions`: linear probes on a few labeled examples
  per class or a fraction of each class's labels (`label_subsets`);
- `decoder`: images reconstructed from frozen Y, measured by MS-SSIM
  (`decoder`);
- `mi`: MINE's I(X; Y) and NDM of Y (`mi`).

TensorFlow-free: modules are imported only when an evaluator is built.
"""

import importlib

from dim_tf.errors import UserError
from dim_tf.evaluators import FROZEN_KINDS, KINDS, settings

_MODULES = {
    "linear": "dim_tf.evaluators.frozen_probes",
    "mlp": "dim_tf.evaluators.frozen_probes",
    "finetune": "dim_tf.evaluators.finetune",
    "decoder": "dim_tf.evaluators.decoder",
    "knn": "dim_tf.evaluators.knn",
    "svm": "dim_tf.evaluators.svm",
    "few_labels": "dim_tf.evaluators.label_subsets",
    "label_fractions": "dim_tf.evaluators.label_subsets",
    "finetune_label_fractions": "dim_tf.evaluators.finetune",
    "mi": "dim_tf.evaluators.mi",
}
NAMES = tuple(_MODULES)
assert set(KINDS) <= set(NAMES)


def get(name):
    """The module of evaluator `name` (it defines `Evaluator`).

    Raises:
      UserError: an unknown name (the message lists the valid ones).
    """
    if name not in _MODULES:
        raise UserError(f"unknown evaluator {name!r}; choose one of {', '.join(NAMES)}")
    return importlib.import_module(_MODULES[name])


def build(name, eval_config, taps, source="trained"):
    """`Evaluator` `name` on `taps` of the features of encoder `source`.

    Args:
      name: a registered name (`NAMES`).
      eval_config: the `config.eval` section.
      taps: tuple of taps to measure (`TAPS` order).
      source: "trained" (the run's encoder) or "random" (a freshly
        initialised one, the baseline).
    """
    return get(name).Evaluator(name, eval_config, taps, source)


def needs_labels(name):
    """Whether evaluator `name` needs labels (its module's `NEEDS_LABELS`)."""
    return get(name).NEEDS_LABELS


def plan_names(eval_config, kinds, random_baseline, measures=True):
    """`(name, source)` of the evaluators of one evaluation, in order.

    The trained encoder's first, then the random baseline's: linear probes
    (and kNN, when `knn` is a kind, and the label-subset probes, with
    `measures`). Arguments as for `plan`.
    """
    subsets = []
    if measures and eval_config.few_labels:
        subsets.append("few_labels")
    if measures and settings.label_fractions(eval_config):
        subsets.append("label_fractions")
    names = [*kinds, *subsets]
    if "label_fractions" in subsets and "finetune" in kinds:
        names.append("finetune_label_fractions")
    if measures:
        names.append("mi")
    planned = [(name, "trained") for name in names]
    if random_baseline:
        # kNN of a random encoder costs as much as the trained one's and is
        # the classic reference for it.
        baseline = ["linear", *(["knn"] if "knn" in kinds else []), *subsets]
        planned += [(name, "random") for name in baseline]
    return planned


def plan(eval_config, taps, kinds, random_baseline, measures=True, labeled=True):
    """The evaluators of one evaluation: the trained encoder's, then the baseline's.

    Args:
      eval_config: the `config.eval` section.
      taps: tuple of taps.
      kinds: tuple of probe kinds (`KINDS` order).
      random_baseline: also linear probes (and kNN, when `knn` is a kind, and
        the label-subset probes, with `measures`) of a random encoder.
      measures: also the label-subset probes and MINE / NDM.
      labeled: whether the dataset has labels; False leaves out every
        evaluator that `needs_labels`.
    """
    return [
        build(name, eval_config, taps, source)
        for name, source in plan_names(eval_config, kinds, random_baseline, measures)
        if labeled or not needs_labels(name)
    ]


def periodic_kinds(kinds):
    """The kinds of `kinds` measured during training: the frozen ones and knn.

    Linear when there is none of them (the fine-tuned probes and the SVMs
    take too long to run every few thousand steps).
    """
    return tuple(kind for kind in kinds if kind in (*FROZEN_KINDS, "knn")) or (
        "linear",
    )
