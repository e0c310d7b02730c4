"""Encoders, critics and priors; the names a config may choose, TensorFlow-free.

`dim_tf.config` validates against these constants without importing the
models: this file must never import TensorFlow or its own submodules.
"""

# Encoder name -> the side of the square images it takes.
ENCODER_INPUT_SIZES = {
    "basic28x28": 28,
    "basic32x32": 32,
    "basic64x64": 64,
    "alex64x64": 64,
    "resnet32x32": 32,
    "resnet64x64": 64,
    # The trunk of the named encoder on a 7x7 grid of overlapping crops.
    "folded_basic32x32": 32,
    "folded_basic64x64": 64,
    "folded_alex64x64": 64,
    "folded_resnet32x32": 32,
    "folded_resnet64x64": 64,
}
ENCODERS = tuple(ENCODER_INPUT_SIZES)

# dot = encode-and-dot, concat = concat-and-convolve (docs/architectures.md).
LOCAL_CRITICS = ("dot", "concat")
# The paper's width: 2048-unit embeddings (dot), 512-512-1 (concat).
PAPER_CRITIC_UNITS = {"dot": 2048, "concat": 512}
# "none" (the paper) or "sqrt_units" (divided by sqrt(units), as in AMDIM).
SCORE_SCALES = ("none", "sqrt_units")

PRIORS = ("uniform", "gaussian", "none")


def local_critic_units(kind, units=None):
    """The width the local critic `kind` is built with.

    Args:
      kind: one of `LOCAL_CRITICS`.
      units: `critic.units`; None = the paper's width for the kind.

    Returns:
      `units` when set, else `PAPER_CRITIC_UNITS[kind]`.

    Raises:
      ValueError: `units` is None and `kind` is unknown.
    """
    if units is not None:
        return units
    if kind not in PAPER_CRITIC_UNITS:
        raise ValueError(
            f"unknown critic.kind {kind!r}; choose one of {', '.join(LOCAL_CRITICS)}"
        )
    return PAPER_CRITIC_UNITS[kind]


# Encoder name -> its number of convolutional blocks ("conv1" .. "convK").
ENCODER_CONV_BLOCKS = {
    "basic28x28": 2,
    "basic32x32": 3,
    "basic64x64": 4,
    "alex64x64": 5,
    # The stem, then the five block entries (docs/architectures.md).
    "resnet32x32": 6,
    "resnet64x64": 6,
    # A folded trunk runs on crops: no whole-image block maps.
    "folded_basic32x32": 0,
    "folded_basic64x64": 0,
    "folded_alex64x64": 0,
    "folded_resnet32x32": 0,
    "folded_resnet64x64": 0,
}
