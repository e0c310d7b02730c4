"""Measures of a trained encoder: probes, MINE and NDM, views, the report.

The names a config may choose live here, TensorFlow-free (this file must never
import TensorFlow or its own submodules), so `dim_tf.config` can check them.
"""

# Encoder outputs a probe can read (docs/protocol.md).
TAPS = ("conv", "fc", "y")
# linear | mlp on frozen features | finetune (the mlp with a copy of the encoder).
KINDS = ("linear", "mlp", "finetune")
# The kinds that train on cached frozen features.
FROZEN_KINDS = ("linear", "mlp")
