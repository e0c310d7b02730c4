"""The evaluator interface: `Evaluator`, what it reads (`Need`) and yields (`Result`).

A kind is a module defining `Evaluator`, a subclass of the one here: a
built-in by name (`registry`), a plug-in by its dotted module path.
TensorFlow-free: the config checks parse `eval.kinds` here.
"""

import abc
import importlib
import importlib.util
from typing import NamedTuple

from dim_tf import field_checks
from dim_tf.errors import UserError
from dim_tf.evaluators import KINDS


class Result(NamedTuple):
    """One measured value and what results.json keeps of it.

    Attributes:
      name: the scalar's name, e.g. "probe/linear_y" (its TensorBoard tag).
      value: a Python float.
      section: where `row` goes in results.json: "" merges it into the top
        level; "probes", "random_encoder/few_label_probes", ... append it
        to that list.
      row: the dict results.json keeps, or None: then `{name: value}` goes
        to results.json's `measures` (and a line of the table).
      model: the trained probe behind a probe row (saved for export), or None.
    """

    name: str
    value: float
    section: str = ""
    row: dict | None = None
    model: object = None


class Need(NamedTuple):
    """What an evaluator reads of encoder `source`: `taps`, the first images of each split."""

    source: str
    taps: tuple
    train_images: int = 0
    test_images: int = 0


class Evaluator(abc.ABC):
    """One measure of a representation, built as `Evaluator(name, eval_config, taps, source)`.

    Class attributes a subclass may override:
      needs_labels: False when it also runs on a dataset without labels.
      background: True when `start` queues work (e.g. in `step.probe_pool`)
        that runs while other evaluators run: an evaluation starts such
        evaluators first; their results come side by side (no ETA).

    Args:
      name: its kind (a built-in name or a plug-in's module path).
      eval_config: the `config.eval` section.
      taps: tuple of taps to measure.
      source: "trained" or "random" (the random-encoder baseline).

    Attributes:
      needs: the `Need`s of the features it reads (default: `taps` of `source`).
      num_results: how many `Result`s `run` yields (default: one per tap),
        or None when it cannot say (for the progress lines).
    """

    needs_labels = True
    background = False

    def __init__(self, name, eval_config, taps=(), source="trained"):
        self.name, self.eval_config, self.source = name, eval_config, source
        self.taps = tuple(taps)
        self.needs = (Need(source, self.taps),)
        self.num_results = len(self.taps) or None

    @abc.abstractmethod
    def run(self, step):
        """Yields the `Result`s on `step` (`dim_tf.evaluators.evaluation.Step`)."""

    def start(self, step):
        """Begins the work on `step`; returns the iterator `run(step)` gives."""
        return self.run(step)

    def tag(self, name):
        """TensorBoard name of a value: `name`, or `random/name` for the baseline."""
        return name if self.source == "trained" else f"random/{name}"

    def section(self, key):
        """results.json list of a row: `key`, or `random_encoder/key` for the baseline."""
        return key if self.source == "trained" else f"random_encoder/{key}"


def parse_kinds(field, text):
    """`"knn, linear, my_project.toy"` -> `("linear", "knn", "my_project.toy")`.

    Built-ins in `KINDS` order, then plug-ins (imported and checked) as given.

    Raises:
      UserError: an unknown kind, none, or a bad plug-in (`plugin_class`).
    """
    names = text.split(",") if isinstance(text, str) else list(text or ())
    names = [name.strip() for name in names if name.strip()]
    plugins = tuple(dict.fromkeys(name for name in names if "." in name))
    builtins = [name for name in names if "." not in name]
    try:
        kinds = (
            field_checks.parse_names(field, builtins or text, KINDS)
            if builtins or not plugins
            else ()
        )
    except UserError as error:
        raise UserError(
            f"{error}; a plug-in is a dotted module path (e.g. my_project.my_eval)"
        ) from None
    for path in plugins:
        plugin_class(field, path)
    return (*kinds, *plugins)


def plugin_class(field, path):
    """The `Evaluator` class of plug-in module `path`; `UserError` when there is none."""
    try:
        found = importlib.util.find_spec(path) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UserError(
            f"{field}: no module {path!r} on the Python path (a plug-in "
            "evaluator is an importable dotted module path)"
        )
    evaluator = getattr(importlib.import_module(path), "Evaluator", None)
    if not (isinstance(evaluator, type) and issubclass(evaluator, Evaluator)):
        raise UserError(
            f"{field}: module {path!r} defines no Evaluator, a subclass of "
            "dim_tf.evaluators.base.Evaluator"
        )
    return evaluator
