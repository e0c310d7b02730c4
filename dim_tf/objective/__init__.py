"""The DIM objective: MI estimators and the weighted loss.

Names a config may choose and the paper's weights per mode, TensorFlow-free:
this file must never import TensorFlow or its own submodules.
"""

import dataclasses
import math

ESTIMATORS = ("jsd", "nce", "dv")

# Mode -> the paper's (alpha, beta, gamma) (docs/method.md).
PAPER_WEIGHTS = {
    "local": (0.0, 1.0, 0.1),
    "global": (1.0, 0.0, 1.0),
    "local+global": (0.5, 0.1, 0.1),
}
MODES = tuple(PAPER_WEIGHTS)


@dataclasses.dataclass(frozen=True)
class Weights:
    """Weights of the global MI (alpha), local MI (beta) and prior term (gamma)."""

    alpha: float
    beta: float
    gamma: float


def resolve_weights(objective_config):
    """The mode's paper `Weights`, overridden by those the config sets.

    Args:
      objective_config: with `mode`, `alpha`, `beta`, `gamma` (None = the
        paper's) and `prior` (gamma is 0 when it is "none").

    Raises:
      ValueError: an unknown mode or a negative weight.
    """
    mode = objective_config.mode
    if mode not in PAPER_WEIGHTS:
        raise ValueError(
            f"unknown objective.mode {mode!r}; choose one of {', '.join(MODES)}"
        )
    defaults = PAPER_WEIGHTS[mode]
    alpha, beta, gamma = (
        defaults[k] if value is None else float(value)
        for k, value in enumerate(
            (objective_config.alpha, objective_config.beta, objective_config.gamma)
        )
    )
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if value < 0:
            raise ValueError(f"objective.{name} must be >= 0, got {value}")
    if objective_config.prior == "none":
        gamma = 0.0
    return Weights(alpha, beta, gamma)


# 1 = the paper; 2 = MI across two augmented views, both directions averaged.
VIEWS = (1, 2)

# `objective.scales` (docs/method.md); the paper's DIM(L) is "y:local".
PAPER_SCALES = "y:local"
GLOBAL_SOURCE = "y"
# Maps every encoder outputs; "convK" is the K-th block's (models.ENCODER_CONV_BLOCKS).
NAMED_MAPS = ("local", "conv")


@dataclasses.dataclass(frozen=True)
class ScalePair:
    """One MI term of `objective.scales`: SOURCE vectors against TARGET locations."""

    source: str
    target: str
    weight: float

    @property
    def name(self):
        """ "y-conv1": the pair in metric names ("mi/y-conv1") and critic names."""
        return f"{self.source}-{self.target}"


def _is_map_name(name, conv_blocks):
    if name in NAMED_MAPS:
        return True
    if not (name.startswith("conv") and name[4:].isdigit()):
        return False
    return conv_blocks is None or 1 <= int(name[4:]) <= conv_blocks


def parse_scales(text, conv_blocks=None):
    """`"y:local=1,y:conv1=0.5"` -> `(ScalePair("y", "local", 1.0), ...)`.

    Args:
      text: the `objective.scales` string; a pair without "=WEIGHT" has weight 1.
      conv_blocks: the encoder's number of convolutional blocks; None accepts
        any "convK".

    Raises:
      ValueError: a malformed pair, an unknown map, a duplicate or a weight
        that is not a number > 0 (one line saying what is allowed).
    """
    if conv_blocks is None:
        maps = "local, conv, convK"
    else:
        maps = "local, conv" + (f", conv1..conv{conv_blocks}" if conv_blocks else "")
    form = (
        "objective.scales takes comma-separated SOURCE:TARGET[=WEIGHT] pairs "
        f"such as 'y:local=1,y:conv1=0.5' (SOURCE y or a map, TARGET a map: {maps})"
    )
    pairs = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        pair, _, weight_text = item.partition("=")
        source, colon, target = (part.strip() for part in pair.partition(":"))
        if not colon:
            raise ValueError(f"{form}; got {item!r}")
        for role, name in (("SOURCE", source), ("TARGET", target)):
            allowed = _is_map_name(name, conv_blocks) or (
                role == "SOURCE" and name == GLOBAL_SOURCE
            )
            if not allowed:
                raise ValueError(f"{form}; {role} {name!r} in {item!r} is not one")
        try:
            weight = float(weight_text) if weight_text.strip() else 1.0
        except ValueError:
            weight = math.nan
        if not weight > 0 or math.isinf(weight):
            raise ValueError(f"{form}; the weight in {item!r} must be a number > 0")
        if any((p.source, p.target) == (source, target) for p in pairs):
            raise ValueError(f"{form}; {source}:{target} is given twice")
        pairs.append(ScalePair(source, target, weight))
    if not pairs:
        raise ValueError(f"{form}; got {text!r}")
    return tuple(pairs)


ENCODER_LOCAL_MAP = "local"
