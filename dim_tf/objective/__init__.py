"""The DIM objective: MI estimators and the weighted loss.

The names a config may choose, and the paper's weights per mode, live here
TensorFlow-free (this file must never import TensorFlow or its own
submodules), so `dim_tf.config` can check a config without building anything.
"""

import dataclasses
import math

# The MI bounds of `estimators.mi_bound` (formulas in docs/method.md).
ESTIMATORS = ("jsd", "nce", "dv")

# Mode -> the paper's (alpha, beta, gamma): the weights of the global MI,
# the local MI and the prior term (docs/method.md).
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
    """The mode's paper weights, with any weight the config sets overriding them.

    Args:
      objective_config: ConfigDict (or any mapping with attribute access) with
        `mode`, `alpha`, `beta`, `gamma` (None = the paper's value) and `prior`.

    Returns:
      `Weights`; gamma is 0 when the prior is `"none"`.

    Raises:
      ValueError: an unknown mode or a negative weight (`dim_tf.config`
        reports both to users first).
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


# How many augmented views of each image a step encodes: 1 = the paper (one
# image, MI within it), 2 = MI between the global vector of one view and the
# local features of the other, both directions averaged.
VIEWS = (1, 2)

# `objective.scales`: comma-separated `SOURCE:TARGET[=WEIGHT]` pairs. SOURCE is
# "y" (the global vector) or a feature map, TARGET a feature map; each pair
# has its own critic and its MI enters the local term with its weight.
# The paper's DIM(L) is the single pair "y:local".
PAPER_SCALES = "y:local"
GLOBAL_SOURCE = "y"
# Maps every encoder outputs; "convK" names the K-th convolutional block's
# output (which ones exist depends on the encoder: models.ENCODER_CONV_BLOCKS).
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
      conv_blocks: the encoder's number of convolutional blocks (its maps are
        "conv1" .. "conv<blocks>", "local" and "conv"); None accepts any
        "convK" (checked when the encoder is built).

    Returns:
      Tuple of `ScalePair`, in the order given.

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


# The map the paper's local MI scores Y against (the encoder output "local").
ENCODER_LOCAL_MAP = "local"
