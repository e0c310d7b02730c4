"""`run`: absl's `app.run` with the entry points' help, flag parsing and exits."""

import os
import sys

from absl import app

from dim_tf.cli.environment import set_environment_defaults
from dim_tf.cli.exits import guarded
from dim_tf.cli.flag_parsing import parse_flags


def run(main, flag_values):
    """`absl.app.run(main)`, turning bad flags and `UserError`s into one line.

    Args:
      main: the entry point's body, `main(argv)`.
      flag_values: the `absl.flags.FlagValues` the console script defined its
        flags in (absl's global one); this module never reaches for it itself.

    A flag marked required (`flags.mark_flags_as_required`) that is missing
    gives `error: --NAME is required: its help`.

    A bad flag or config override (absl's own errors, e.g. a mistyped
    `--config.FIELD`) and every `UserError` / `TrainingError` print
    `error: ...` on stderr and exit with status 2; `Interrupted` (a stop
    signal, after a checkpoint) prints its line and exits with 128 + the
    signal's number; `WorkerLost` (another worker of the cluster died) prints
    `error: ...` and exits with `WorkerLost.EXIT_STATUS` (138); other
    exceptions are bugs and keep their traceback.
    Logging is at WARNING unless --verbosity is given, without the TFDS
    warnings `dim_tf.cli.quiet_start` knows to be harmless.
    """
    set_environment_defaults()
    _adopt_help(sys.modules[main.__module__], flag_values)
    app.run(
        guarded(main, flag_values),
        flags_parser=lambda argv: parse_flags(argv, flag_values),
    )


def _adopt_help(module, flag_values):
    """Makes --help / --helpshort show `module`'s usage and flags.

    absl's help prints the docstring of `__main__` and the flags of
    `sys.argv[0]`, which are the thin wrapper (bin/train) or the generated
    console script (dim-train); the usage and the flags live in `module`.
    """
    main_module = sys.modules["__main__"]
    if main_module is not module and module.__doc__:
        main_module.__doc__ = module.__doc__
    for flag in flag_values.get_key_flags_for_module(module):
        flag_values.register_key_flag_for_module(sys.argv[0], flag)


def command(name):
    """How the user runs entry point `name` here: "bin/NAME" or "dim-NAME".

    "dim-NAME" when this process is a console script (dim-train, ...), so
    the hints a run prints name commands the user has.
    """
    if os.path.basename(sys.argv[0]).startswith("dim-"):
        return f"dim-{name}"
    return f"bin/{name}"
