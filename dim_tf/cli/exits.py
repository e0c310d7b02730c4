"""How an entry point ends: one `error: ...` line and its exit status.

2 for a mistake (a bad flag, a `UserError`) or a `TrainingError`, 128 + N
for a stop signal N (`Interrupted`), `WorkerLost.EXIT_STATUS` (138) when
another worker of the cluster died; other exceptions are bugs and keep their
traceback.
"""

import sys

from absl import logging

from dim_tf.cli import quiet_start
from dim_tf.errors import Interrupted, TrainingError, UserError, WorkerLost


def fail(message, status=2):
    """Writes `error: MESSAGE` on stderr and exits with `status`."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(status)


def guarded(main, flag_values):
    """`main(argv)` with its expected exceptions turned into exits (above).

    Logging is at WARNING unless --verbosity is given, without the TFDS
    warnings `dim_tf.cli.quiet_start` knows to be harmless.
    """

    def guarded_main(argv):
        # absl raises the default verbosity to INFO, which floods the terminal
        # with TFDS's and TensorFlow's INFO lines; --verbosity=0 brings them back.
        if not flag_values["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
            logging.get_absl_handler().addFilter(quiet_start.drop_harmless_log_records)
        try:
            return main(argv)
        except Interrupted as err:
            # A clean stop, not a mistake: the shell's status for the signal.
            sys.stderr.write(f"{err}\n")
            sys.exit(128 + err.signum)
        except WorkerLost as err:  # Every worker must start again: not a mistake.
            fail(str(err).replace("\n", " "), WorkerLost.EXIT_STATUS)
        except (UserError, TrainingError) as err:
            fail(str(err).replace("\n", " "))
        except KeyboardInterrupt:
            fail("interrupted")

    return guarded_main
