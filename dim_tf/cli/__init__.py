"""Shared plumbing of the `bin/` entry points: one-line errors, no tracebacks.

Only `bin/` reads absl flags; these helpers take flag values as arguments.
"""

import sys

from absl import app, flags, logging

from dim_tf.cli import quiet_start
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
    Logging is at WARNING unless --verbosity is given, without the TFDS
    warnings `dim_tf.cli.quiet_start` knows to be harmless.
    """

    def guarded(argv):
        # absl raises the default verbosity to INFO, which floods the terminal
        # with TFDS's and TensorFlow's INFO lines; --verbosity=0 brings them back.
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
            logging.get_absl_handler().addFilter(quiet_start.drop_harmless_log_records)
        try:
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


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        _fail(_one_line(err))
    except Exception as err:  # A config file that fails to load or override.
        message = _unknown_field_message(err, argv)
        _fail(message or f"the config cannot be loaded: {_one_line(err)}")


def _unknown_field_message(err, argv):
    """`--config.a.bx=1` -> "unknown config field 'bx' in --config.a.bx=1 (...)".

    None unless `err` is ml_collections' unknown-field error (a KeyError
    "'name'\\nDid you mean ...", sometimes inside an AttributeError) and a
    `--config.` override names that field; a mistake inside the config file
    itself is not blamed on a flag.
    """
    while err.args and isinstance(err.args[0], BaseException):
        err = err.args[0]
    if not isinstance(err, KeyError) or not err.args:
        return None
    lines = str(err.args[0]).splitlines() or [""]
    key = lines[0].strip("'\"")
    culprit = next(
        (
            arg
            for arg in argv
            if arg.startswith("--config.") and key in arg.split("=")[0].split(".")[1:]
        ),
        None,
    )
    if culprit is None:
        return None
    hint = lines[1].strip() if len(lines) > 1 else "see the config file for its fields"
    return f"unknown config field {key!r} in {culprit} ({hint})"


def _one_line(err):
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:400] + "..."


def reject_extra_arguments(argv):
    """Raises `UserError` for positional arguments (all input goes through flags)."""
    if len(argv) > 1:
        raise UserError(
            f"unexpected arguments {' '.join(argv[1:])!r}; use --flags only"
        )


def start_tensorflow():
    """Imports TensorFlow without its harmless start-up lines (`quiet_start`).

    Entry points call it after their own checks, so those fail fast.
    """
    quiet_start.start_tensorflow()


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
