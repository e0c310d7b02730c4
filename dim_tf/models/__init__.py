"""Encoders, critics and priors; the names a config may choose, TensorFlow-free.

`dim_tf.config` validates against these constants without importing the
models: this file must never import TensorFlow or its own submodules.
"""

import difflib
import importlib.util
import os
import re

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

# `encoder` may also name a backbone: "keras:NAME" (a keras.applications
# constructor) or "file:PATH.keras" (a saved functional model).
BACKBONE_KINDS = ("keras:", "file:")
# A backbone's image side when `image_size` is None: every keras.applications
# trunk but InceptionV3, InceptionResNetV2 and Xception builds at it.
BACKBONE_IMAGE_SIZE = 64


def is_backbone(encoder):
    """Whether `encoder` is a backbone spec ("keras:NAME" or "file:PATH")."""
    return isinstance(encoder, str) and encoder.startswith(BACKBONE_KINDS)


def input_size(encoder, image_size=None):
    """The side S of the square images `encoder` takes.

    Args:
      encoder: a name of `ENCODERS`, a backbone spec, or (the Keras API) a
        user model's name.
      image_size: the `image_size` field; None = the encoder's own size
        (`BACKBONE_IMAGE_SIZE` for a backbone).
    """
    if image_size is not None:
        return image_size
    return ENCODER_INPUT_SIZES.get(encoder, BACKBONE_IMAGE_SIZE)


def keras_application_names():
    """The constructor names `keras.applications` exports, or None if unknown.

    Read from Keras's generated `keras/applications/__init__.py` without
    importing Keras (and TensorFlow), so a config check stays fast.
    """
    try:
        spec = importlib.util.find_spec("keras")
    except (ImportError, ValueError):
        return None
    locations = list(getattr(spec, "submodule_search_locations", None) or ())
    if not locations:
        return None
    path = os.path.join(locations[0], "applications", "__init__.py")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    names = sorted(set(re.findall(r"\bas\s+([A-Z]\w*)", text)))
    return tuple(names) or None


def unknown_keras_name(name, names):
    """The one-line message for "keras:NAME" that `names` does not hold."""
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return (
        f"keras:{name} is not a keras.applications vision model; {hint}"
        f"dir(keras.applications) lists all {len(names)} (the capitalised names)"
    )


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
