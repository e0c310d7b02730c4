"""The strategies tests share: one object each per test process.

Every new MirroredStrategy numbers its collective ops from the same keys, so
two of them in one process can launch clashing collectives ("Collective
instance 100 expected type ..."). All tests use these instead.
"""

import functools

import tensorflow as tf


@functools.cache
def two_replicas():
    """MirroredStrategy over the two logical CPUs set up in tests/conftest.py."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, "tests/conftest.py splits the CPU in two"
    return tf.distribute.MirroredStrategy(devices)


@functools.cache
def one_device():
    """OneDeviceStrategy on the first CPU."""
    return tf.distribute.OneDeviceStrategy("/cpu:0")
