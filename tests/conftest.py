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


# The test files that start bin/ processes or train and evaluate whole runs,
# slowest first. They are collected before the rest so that pytest-xdist
# (`--dist loadfile`) starts them early and the short files fill the end,
# instead of one long file running alone while the other worker idles.
_SLOW_FILES_FIRST = (
    "faults_test",
    "lost_worker_test",
    "multi_worker_test",
    "evaluate_cli_test",
    "folders_cli_test",
    "export_test",
    "evaluate_test",
    "folders_test",
    "embeddings_test",
    "bad_input_test",
    "checkpoints_test",
    "mi_test",
    "trainer_test",
    "train_test",
    "configs_test",
    "benchmark_test",
    "cli_test",
)


def pytest_collection_modifyitems(items):
    """Puts the slow files first; the order within each file is kept."""

    def rank(item):
        name = item.path.stem
        if name in _SLOW_FILES_FIRST:
            return _SLOW_FILES_FIRST.index(name)
        return len(_SLOW_FILES_FIRST)

    items.sort(key=rank)
