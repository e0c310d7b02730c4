"""The entry points (`dim-train`, ... and their `bin/` wrappers) and their plumbing.

Each of `train`, `evaluate`, `export`, `benchmark`, `embed` and `neighbours`
defines its absl flags and a `main()` (the console script); what they share
lives beside them, one module per job (`environment`, `exits`,
`flag_parsing`, `runner`, `output`, `quiet_start`, `overrides`) and is
named here. Only the entry points read absl flags; the library takes plain
values. Importing this package imports neither TensorFlow nor NumPy
(bin/_launch.py relies on it).
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
