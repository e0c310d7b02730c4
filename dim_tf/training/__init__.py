"""Strategies, the Trainer and the training loop.

The names a config may choose live here, TensorFlow-free (this file must never
import TensorFlow or its own submodules), so `dim_tf.config` can check them.
"""

# auto | mirrored | one_device | multi_worker | tpu (see strategies.make_strategy).
STRATEGIES = ("auto", "mirrored", "one_device", "multi_worker", "tpu")
# Keras dtype policies of the training step.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
