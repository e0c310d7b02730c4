"""Each exported file run on real images and checked against its SavedModel.

The check runs at export time: a file whose outputs differ from the
SavedModel's by more than its format's tolerance is an error, not a warning
(docs/deploy.md states the tolerances and what they cost).
"""

import numpy as np

from dim_tf.errors import UserError
from dim_tf.exporting import KERAS, LITERT, ONNX
from dim_tf.input import eval_sets

# Images of the run's evaluation split each file is checked on.
CHECK_IMAGES = 16
# Largest |file - SavedModel| allowed on an output, as a fraction of the
# largest |SavedModel| value of that output (at least 1): float32 files differ
# only by operation order, quantised LiteRT files by their weights' rounding.
TOLERANCES = {
    KERAS: 1e-3,
    ONNX: 1e-3,
    (LITERT, "none"): 1e-3,
    (LITERT, "float16"): 1e-2,
    (LITERT, "dynamic_int8"): 0.1,
}
# A quantised LiteRT probe is checked by its classes instead: the least
# fraction of the images it must give the SavedModel's class (a float32
# probe file must give every image's).
MIN_CLASS_AGREEMENT = 0.9


def check_images(run, count=CHECK_IMAGES):
    """The first `count` images of the run's evaluation split, as the dataset stores them.

    Returns:
      uint8 `[n, H, W, C]` (a directory's fitted to its stored side), n <= count.
    """
    ds = eval_sets.stored_examples(run.config.data, run.eval_split, run.image_size)
    return np.stack([e["image"] for e in ds.take(count).as_numpy_iterator()])


def tolerance(fmt, quantize="none"):
    """The largest relative difference `check` allows a file of `fmt`."""
    return TOLERANCES[(fmt, quantize) if fmt == LITERT else fmt]


def check(label, fmt, reference, outputs, quantize="none"):
    """Compares a file's outputs with the SavedModel's; returns a one-line summary.

    Args:
      label: what the line and an error name, e.g. "export/encoder.onnx".
      fmt: the file's format.
      reference: the SavedModel's outputs `{name: array}`.
      outputs: the file's outputs on the same images.
      quantize: the LiteRT quantisation ("none" for other formats).

    Raises:
      UserError: an output missing, of another shape, or beyond the tolerance
        (a quantised LiteRT probe: classes agreeing on fewer than
        `MIN_CLASS_AGREEMENT` of the images; another probe: on fewer than all).
    """
    allowed = tolerance(fmt, quantize)
    worst, agreement = 0.0, None
    for name, expected in reference.items():
        expected = np.asarray(expected)
        got = np.asarray(outputs[name]) if name in outputs else None
        if got is None or got.shape != expected.shape:
            shape = None if got is None else list(got.shape)
            raise UserError(
                f"{label}: output {name} has shape {shape}, the SavedModel's "
                f"{list(expected.shape)}; the previous export is kept"
            )
        if name == "class_ids":
            agreement = float(np.mean(got == expected))
        else:
            scale = max(1.0, float(np.abs(expected).max()))
            worst = max(worst, float(np.abs(got - expected).max()) / scale)
    line = f"{label}: max difference {worst:.2g} (tolerance {allowed:g})"
    # A quantised probe's probabilities move with its weights: its classes count.
    by_classes = agreement is not None and quantize != "none"
    if agreement is not None:
        line += f", classes agree on {100 * agreement:.0f}%"
        line += f" (at least {100 * MIN_CLASS_AGREEMENT:.0f}%)" if by_classes else ""
    too_far = agreement < MIN_CLASS_AGREEMENT if by_classes else worst > allowed
    if too_far or (agreement is not None and not by_classes and agreement < 1):
        raise UserError(
            f"{line} against the SavedModel on {len(expected)} test images: "
            "too far; the previous export is kept"
        )
    return line
