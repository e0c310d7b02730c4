"""`run`: absl's `app.run` with the entry points' help, flag parsing and exits."""

import os
import sys

from absl import app

from dim_tf.cli.environment import set_environment_defaults
from dim_tf.cli.exits import guarded
from dim_tf.cli.flag_parsing import parse_flags


def run(main, flag_values, required=()):
    """`absl.app.run(main)`, with bad flags and expected exceptions as one line.

    Args:
      main: the entry point's body, `main(argv)`.
      flag_values: the `absl.flags.FlagValues` holding the entry point's flags.
      required: names of the flags that must be given
        (`error: --NAME is required: its help` otherwise).

    Exit statuses are `dim_tf.cli.exits`'.
    """
    set_environment_defaults()
    _adopt_help(sys.modules[main.__module__], flag_values)
    app.run(
        guarded(main, flag_values),
        flags_parser=lambda argv: parse_flags(argv, flag_values, required),
    )


def _adopt_help(module, flag_values):
    """Makes --help / --helpshort show `module`'s usage and flags.

    absl's help shows `__main__`'s docstring and `sys.argv[0]`'s flags: those
    of the wrapper (bin/train) or console script (dim-train), not `module`.
    """
    main_module = sys.modules["__main__"]
    if main_module is not module and module.__doc__:
        main_module.__doc__ = module.__doc__
    for flag in flag_values.get_key_flags_for_module(module):
        flag_values.register_key_flag_for_module(sys.argv[0], flag)


def command(name):
    """ "dim-NAME" in a console script (dim-train, ...), else "bin/NAME": for hints."""
    if os.path.basename(sys.argv[0]).startswith("dim-"):
        return f"dim-{name}"
    return f"bin/{name}"
