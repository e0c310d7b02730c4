"""Test-session set-up: quiet TensorFlow and two logical CPUs.

The CPU is split into two logical devices before TensorFlow initialises so
that tests can run a real two-replica MirroredStrategy on one machine.
"""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dim_tf.cli import quiet_start  # noqa: E402

quiet_start.start_tensorflow()  # Without TensorFlow's C++ start-up lines.

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A TFDS data_dir with the embedded `digits` prepared, one per test module.

    Prepared here, before any test starts bin/ processes that read it.
    """
    from dim_tf.input import sources

    path = str(tmp_path_factory.mktemp("tfds"))
    sources.dataset_info("digits", path)
    return path


def pytest_collection_modifyitems(items):
    """Puts the files with tests marked `slow` first; the order within each file is kept.

    Those files start bin/ processes or train and evaluate whole runs. Started
    first, pytest-xdist (`--dist loadfile`) runs them on both workers while
    the short files fill the end, instead of one long file running alone
    while the other worker idles.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
