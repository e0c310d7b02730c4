"""Evaluator kinds by name -> the module defining their `Evaluator`.

Built-in kinds map to their modules here (`_MODULES`); a plug-in's kind is
its own dotted module path (`base.parse_kinds` checks it). Modules are
imported only when an evaluator is built: TensorFlow-free.
"""

import importlib

from dim_tf.errors import UserError
from dim_tf.evaluators import FROZEN_KINDS, KINDS, base, settings

_MODULES = {
    "linear": "dim_tf.evaluators.probes.frozen",
    "mlp": "dim_tf.evaluators.probes.frozen",
    "finetune": "dim_tf.evaluators.probes.finetune",
    "decoder": "dim_tf.evaluators.decoder",
    "knn": "dim_tf.evaluators.knn",
    "svm": "dim_tf.evaluators.svm",
    "few_labels": "dim_tf.evaluators.probes.label_subsets",
    "label_fractions": "dim_tf.evaluators.probes.label_subsets",
    "finetune_label_fractions": "dim_tf.evaluators.probes.finetune",
    "mi": "dim_tf.evaluators.mi",
}
NAMES = tuple(_MODULES)
assert set(KINDS) <= set(NAMES)


def get(name):
    """The `Evaluator` class of kind `name` (a registered name or a plug-in path).

    Raises:
      UserError: an unknown name (the message lists the valid ones).
    """
    if "." in name:
        return base.plugin_class("evaluator", name)
    if name not in _MODULES:
        raise UserError(
            f"unknown evaluator {name!r}; choose one of {', '.join(NAMES)}, or a "
            "plug-in's dotted module path"
        )
    return importlib.import_module(_MODULES[name]).Evaluator


def build(name, eval_config, taps, source="trained"):
    """Evaluator `name` on `taps` of encoder `source` (arguments as `base.Evaluator`'s)."""
    return get(name)(name, eval_config, taps, source)


def needs_labels(name):
    """Whether evaluator `name` needs labels."""
    return get(name).needs_labels


def plan_names(eval_config, kinds, random_baseline, measures=True):
    """`(name, source)` of the evaluators of one evaluation, in order (arguments as `plan`'s)."""
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
        baseline = ["linear", *(["knn"] if "knn" in kinds else []), *subsets]
        planned += [(name, "random") for name in baseline]
    return planned


def plan(eval_config, taps, kinds, random_baseline, measures=True, labeled=True):
    """The evaluators of one evaluation: the trained encoder's, then the baseline's.

    Args:
      eval_config: the `config.eval` section.
      taps: tuple of taps.
      kinds: tuple of kinds (`base.parse_kinds`).
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
    """The kinds of `kinds` cheap enough to measure during training (else linear)."""
    return tuple(kind for kind in kinds if kind in (*FROZEN_KINDS, "knn")) or (
        "linear",
    )
