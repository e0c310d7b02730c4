"""Measures of a trained representation: probes, MINE / NDM, TensorBoard views.

`registry` names the evaluators, `features` extracts the frozen features they
share, `evaluation` runs them (bin/evaluate, and every `eval.every` training
steps), `report` writes results.json and the table.

This file holds only the names users choose from, so `dim_tf.config` can check
a config without importing TensorFlow: never import TensorFlow (or a
submodule) here.
"""

TAPS = ("conv", "fc", "y")  # Encoder outputs a probe can read.
KINDS = ("linear", "mlp", "finetune", "knn", "svm", "decoder")  # `eval.kinds`.
FROZEN_KINDS = ("linear", "mlp")  # Kinds trained on frozen features.
# `eval.knn.precision` (the kNN similarities' matrix products) and
# `eval.mlp.precision` (the mlp probes' hidden layer): `dim_tf.evaluators.precision`.
PRECISIONS = ("float32", "bfloat16", "auto")
