"""The entry points' environment defaults; imports neither TensorFlow nor NumPy (bin/_launch.py)."""

import os


def set_environment_defaults():
    """Sets the defaults a user's environment has not set; before TensorFlow and NumPy load.

    TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's C++ INFO and WARNING lines.
    TF_ENABLE_ONEDNN_OPTS=1: oneDNN's CPU kernels, on by default only with
    AVX-512, are several times faster than Eigen's on AVX2 CPUs too.
    NUMPY_MADVISE_HUGEPAGE=0: huge pages found by compacting memory make a
    fresh GB-sized array take seconds to fill (BUILD.md, Evaluation speed).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
