"""Shared plumbing of the `bin/` entry points: one-line errors, no tracebacks.

Only `bin/` reads absl flags; these helpers take flag values as arguments.
"""

import logging as std_logging
import os
import sys
import tempfile

from absl import app, flags, logging

from dim_tf.errors import Interrupted, TrainingError, UserError


def _fail(message):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(2)


def run(main):
    """`absl.app.run(main)`, turning bad flags and `UserError`s into one line.

    A bad flag or config override (absl's own errors, e.g. a mistyped
    `--config.FIELD`) and every `UserError` / `TrainingError` print
    `error: ...` on stderr and exit with status 2; `Interrupted` (a stop
    signal, after a checkpoint) prints its line and exits with 128 + the
    signal's number; other exceptions are bugs and keep their traceback.
    """

    def guarded(argv):
        # absl raises the default verbosity to INFO, which floods the terminal
        # with TFDS's and TensorFlow's INFO lines; --verbosity=0 brings them back.
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
            logging.get_absl_handler().addFilter(_drop_known_library_noise)
        try:
            _start_tensorflow_quietly()
            return main(argv)
        except Interrupted as err:
            # A clean stop, not a mistake: the shell's status for the signal.
            sys.stderr.write(f"{err}\n")
            sys.exit(128 + err.signum)
        except (UserError, TrainingError) as err:
            _fail(str(err).replace("\n", " "))
        except KeyboardInterrupt:
            _fail("interrupted")

    app.run(guarded, flags_parser=_parse_flags)


# Warnings TFDS prints about its own internals or about a dataset that is
# about to be prepared for the first time: nothing a user can or need act on.
_LIBRARY_NOISE = (
    "` is deprecated. Please change your code to use NumPy with the field",
    "has no dataset_info.json",
)


def _drop_known_library_noise(record: std_logging.LogRecord) -> bool:
    """False for log records in `_LIBRARY_NOISE` (a `logging.Handler` filter)."""
    message = record.getMessage()
    return not any(fragment in message for fragment in _LIBRARY_NOISE)


def _start_tensorflow_quietly():
    """Imports TensorFlow and finds its devices with their start-up lines hidden.

    TensorFlow's C++ libraries print lines such as "Could not find cuda
    drivers" and "failed call to cuInit" before its logging is configured,
    so TF_CPP_MIN_LOG_LEVEL cannot hide them. They go to a temporary file
    instead, which is replayed if the start fails. With TF_CPP_MIN_LOG_LEVEL
    set to 0 or 1 they are shown as usual.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as hidden:
        os.dup2(hidden.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved_stderr, 2)
            hidden.seek(0)
            sys.stderr.write(hidden.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        _fail(_one_line(err))
    except (KeyError, AttributeError) as err:  # An override names no field.
        _fail(_unknown_field_message(err, argv))
    except Exception as err:  # A config file that fails to load or override.
        _fail(_one_line(err))


def _unknown_field_message(err, argv):
    """`--config.a.bx=1` -> "unknown config field 'bx' in --config.a.bx=1 (...)"."""
    # ml_collections raises KeyError('name\nDid you mean ...'), sometimes
    # wrapped in an AttributeError.
    while err.args and isinstance(err.args[0], BaseException):
        err = err.args[0]
    lines = str(err.args[0] if err.args else err).splitlines() or ["?"]
    key = lines[0].strip("'\"")
    culprit = next(
        (arg for arg in argv if arg.startswith("--") and key in arg.split("=")[0]),
        None,
    )
    where = f" in {culprit}" if culprit else ""
    hint = lines[1].strip() if len(lines) > 1 else "see the config file for its fields"
    return f"unknown config field {key!r}{where} ({hint})"


def _one_line(err):
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:400] + "..."


def reject_extra_arguments(argv):
    """Raises `UserError` for positional arguments (all input goes through flags)."""
    if len(argv) > 1:
        raise UserError(
            f"unexpected arguments {' '.join(argv[1:])!r}; use --flags only"
        )


def required_config(config_flag):
    """The parsed config of a `--config` flag, or a `UserError` if it is missing."""
    if config_flag.value is None:
        raise UserError("--config is required, e.g. --config=configs/quickstart.py")
    return config_flag.value


def describe_training_outputs(result):
    """A few lines telling the user where the run's outputs are."""
    return "\n".join(
        [
            f"Trained to step {result.step}. Outputs in {result.workdir}:",
            f"  config      {result.workdir}/config.json",
            f"  checkpoint  {result.checkpoint}",
            f"  TensorBoard tensorboard --logdir {result.workdir}",
        ]
    )
