"""`Result`: what an evaluator yields, a `(name, value)` pair and its row.

A leaf module (it imports nothing of dim_tf), so the evaluator modules and
the registry that looks them up by name never import each other in a circle.
"""

from typing import NamedTuple


class Result(NamedTuple):
    """One measured value: a `(name, value)` pair plus what results.json keeps.

    Attributes:
      name: the scalar's name, e.g. "probe/linear_y" (its TensorBoard tag).
      value: the value, a Python float.
      section: where `row` goes in results.json: "" merges it into the top
        level; "probes" or "random_encoder/few_label_probes" appends it to
        that list.
      row: the dict results.json keeps for this value.
      model: the trained probe behind a probe row (saved for export), or None.
    """

    name: str
    value: float
    section: str = ""
    row: dict | None = None
    model: object = None
