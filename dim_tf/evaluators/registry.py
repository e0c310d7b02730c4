"""Evaluators by name: the one place that lists them.

Each name maps to a module with an `Evaluator` class (big_vision's
`evaluators/` shape): `Evaluator(name, eval_config, taps, source)` declares
the features it needs (`needs`) and its `run(step)` yields `results.Result`s, whose
`(name, value)` pairs go to results.json, the table and TensorBoard alike. A
new measure is a module here and one line in `_MODULES`. For the progress
lines (`dim_tf.evaluators.progress`) an `Evaluator` may also say its `name`
(else its module's) and `num_results`, how many `Result`s it yields (else
one per tap of `taps`).

- `linear`, `mlp`: probes on frozen features (`frozen_probes`);
- `finetune`: the paper's "SS" probe, trained with a copy of the encoder
  (`finetune`);
- `few_labels`: linear probes on a few labeled examples per class
  (`few_labels`);
- `mi`: MINE's I(X; Y) and NDM of Y (`mi`).

TensorFlow-free: modules are imported only when an evaluator is built.
"""

import importlib

from dim_tf.errors import UserError
from dim_tf.evaluators import FROZEN_KINDS, KINDS

_MODULES = {
    "linear": "dim_tf.evaluators.frozen_probes",
    "mlp": "dim_tf.evaluators.frozen_probes",
    "finetune": "dim_tf.evaluators.finetune",
    "few_labels": "dim_tf.evaluators.few_labels",
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


def plan(eval_config, taps, kinds, random_baseline, measures=True):
    """The evaluators of one evaluation: the trained encoder's, then the baseline's.

    Args:
      eval_config: the `config.eval` section.
      taps: tuple of taps.
      kinds: tuple of probe kinds (`KINDS` order).
      random_baseline: also linear (and few-label) probes of a random encoder.
      measures: also the few-label probes and MINE / NDM.
    """
    names = list(kinds)
    if measures and eval_config.few_labels:
        names.append("few_labels")
    evaluators = [build(name, eval_config, taps) for name in names]
    if measures:
        evaluators.append(build("mi", eval_config, taps))
    if random_baseline:
        evaluators.append(build("linear", eval_config, taps, "random"))
        if measures and eval_config.few_labels:
            evaluators.append(build("few_labels", eval_config, taps, "random"))
    return evaluators


def frozen_kinds(kinds):
    """The kinds of `kinds` probed during training (linear when none is frozen)."""
    return tuple(kind for kind in kinds if kind in FROZEN_KINDS) or ("linear",)
