"""How an entry point ends: one `error: ...` line and its exit status.

2 for a mistake or a `TrainingError`, 128 + N for a stop signal N
(`Interrupted`), 138 for `WorkerLost`; other exceptions keep their traceback.
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
    """`main(argv)` with its expected exceptions turned into exits; WARNING logging unless --verbosity."""

    def guarded_main(argv):
        # absl's default INFO floods the terminal with TFDS's and TensorFlow's lines.
        if not flag_values["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
            logging.get_absl_handler().addFilter(quiet_start.drop_harmless_log_records)
        try:
            return main(argv)
        except Interrupted as err:
            sys.stderr.write(f"{err}\n")
            sys.exit(128 + err.signum)
        except WorkerLost as err:  # Every worker must start again: not a mistake.
            fail(str(err).replace("\n", " "), WorkerLost.EXIT_STATUS)
        except (UserError, TrainingError) as err:
            fail(str(err).replace("\n", " "))
        except KeyboardInterrupt:
            fail("interrupted")

    return guarded_main
