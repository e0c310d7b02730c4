"""Test-session set-up: quiet TensorFlow and two logical CPUs.

The CPU is split into two logical devices before TensorFlow initialises so
that tests can run a real two-replica MirroredStrategy on one machine.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dim_tf import quiet_start  # noqa: E402

quiet_start.start_tensorflow()  # Without TensorFlow's C++ start-up lines.

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
