"""Measures of a trained representation: probes, MINE / NDM, TensorBoard views.

The names users choose from, TensorFlow-free so `dim_tf.config` can check a
config without it: import neither TensorFlow nor a submodule here.
"""

TAPS = ("conv", "fc", "y")  # Encoder outputs a probe can read.
KINDS = ("linear", "mlp", "finetune", "knn", "svm", "decoder")  # `eval.kinds`.
FROZEN_KINDS = ("linear", "mlp")  # Kinds trained on frozen features.
# `eval.knn.precision`, `eval.mlp.precision` (`cpu.compute_dtype`).
PRECISIONS = ("float32", "bfloat16", "auto")
