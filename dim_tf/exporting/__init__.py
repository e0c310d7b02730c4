"""Export format names, their files and the packages they need (TensorFlow-free).

`bin/export --formats=...` is checked here before any work: an unknown name or
a missing optional package is a one-line `UserError`.
"""

import importlib.util

from dim_tf.errors import UserError

SAVED_MODEL, KERAS, ONNX, LITERT = "saved_model", "keras", "onnx", "litert"
FORMATS = (SAVED_MODEL, KERAS, ONNX, LITERT)
# The file suffix of each format written beside the SavedModel directory.
SUFFIXES = {KERAS: ".keras", ONNX: ".onnx", LITERT: ".tflite"}
LITERT_QUANTIZATIONS = ("none", "float16", "dynamic_int8")
# Import name -> the pip package that provides it, per format: writing and
# checking a format needs all of them (`pip install 'dim_tf[export]'`).
_PACKAGES = {
    ONNX: {"tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"},
    LITERT: {"ai_edge_litert": "ai-edge-litert"},
}


def parse_formats(text):
    """`"saved_model,onnx"` or `"all"` -> the formats in `FORMATS` order.

    The SavedModel is always among them: every other format is checked against it.

    Raises:
      UserError: an empty list or an unknown name.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return FORMATS
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise UserError(
            f"--formats={text!r}: unknown format {', '.join(unknown) or '(none)'}; "
            f"allowed: a comma-separated list of {', '.join(FORMATS)}, or all"
        )
    return tuple(name for name in FORMATS if name == SAVED_MODEL or name in names)


def missing_packages(formats):
    """The pip packages `formats` need that cannot be imported, in order."""
    missing = []
    for fmt in formats:
        for module, package in _PACKAGES.get(fmt, {}).items():
            if importlib.util.find_spec(module) is None and package not in missing:
                missing.append(package)
    return missing


def check_packages(formats):
    """Raises `UserError` naming the `pip install` to run when a package is missing."""
    missing = missing_packages(formats)
    if missing:
        raise UserError(
            f"--formats needs {', '.join(missing)}: pip install 'dim_tf[export]' "
            f"(or pip install {' '.join(missing)})"
        )
