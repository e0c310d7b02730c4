"""The DIM objective: MI estimators and the weighted loss.

The names a config may choose, and the paper's weights per mode, live here
TensorFlow-free (this file must never import TensorFlow or its own
submodules), so `dim_tf.config` can check a config without building anything.
"""

import dataclasses

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
