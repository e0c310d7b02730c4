"""Training: strategies, the Trainer and its builder, the loop, checkpoints.

The names of the choices this package offers live here, free of TensorFlow,
so that a config can be checked without importing it.
"""

# `strategy` config values (see `dim_tf.training.strategies.make_strategy`).
STRATEGIES = ("auto", "mirrored", "one_device", "multi_worker", "tpu")
# `train.precision` config values: Keras dtype policies.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
