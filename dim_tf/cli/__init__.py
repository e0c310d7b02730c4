"""The entry points (`dim-train`, ... and their `bin/` wrappers) and their shared plumbing.

Each entry point module defines its absl flags and a `main()` (the console
script); only they read absl flags. Importing this package imports neither
TensorFlow nor NumPy (bin/_launch.py relies on it).
"""

from dim_tf.cli.environment import set_environment_defaults
from dim_tf.cli.flag_parsing import reject_extra_arguments
from dim_tf.cli.output import (
    CountProgress,
    announced,
    describe_training_outputs,
    progress,
)
from dim_tf.cli.quiet_start import start_tensorflow
from dim_tf.cli.runner import command, run

__all__ = [
    "CountProgress",
    "announced",
    "command",
    "describe_training_outputs",
    "progress",
    "reject_extra_arguments",
    "run",
    "set_environment_defaults",
    "start_tensorflow",
]
