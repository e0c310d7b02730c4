"""The entry points' environment defaults, set before TensorFlow or NumPy loads.

bin/_launch.py imports this (through `dim_tf.cli`) before the dependencies
are known to be installed: it imports neither TensorFlow nor NumPy.
"""

import os


def set_environment_defaults():
    """The entry points' environment defaults (a user's values win).

    TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's C++ INFO and WARNING lines.
    TF_ENABLE_ONEDNN_OPTS=1: TensorFlow enables oneDNN's CPU kernels (matmul,
    conv) by default only on CPUs with AVX-512 extensions; on AVX2 CPUs they
    multiply matrices several times faster than the default Eigen kernels
    (TF_ENABLE_ONEDNN_OPTS=0 opts out). Must run before TensorFlow is imported.
    NUMPY_MADVISE_HUGEPAGE=0: NumPy asks Linux for transparent huge pages for
    every array of 4 MB or more; where the kernel finds them by compacting
    memory as the array is first written (THP `defrag` set to `madvise`,
    common on VMs), a fresh GB-sized array, such as an evaluation's features,
    takes seconds of system time to fill (BUILD.md, Evaluation speed). Must
    run before NumPy is imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
