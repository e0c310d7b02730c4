"""Parsing an entry point's flags and config overrides, failing as one line.

absl's and ml_collections' errors (a missing required flag, a mistyped
`--config.FIELD`, a config file that does not load) become one `error: ...`
line with exit status 2.
"""

import contextlib
import re
import sys

from absl import flags

from dim_tf.cli import none_overrides
from dim_tf.cli.exits import fail
from dim_tf.errors import UserError


def parse_flags(argv, flag_values):
    """absl's flags parser for `app.run`: the arguments left after the flags."""
    none_paths = []
    if "config" in flag_values:
        # absl would parse "None" with the field's type (float, int, ...).
        parsed_argv, none_paths = none_overrides.split(argv)
    else:
        parsed_argv = argv
    # The config flag finds its overrides in sys.argv itself, when the config
    # is first loaded (here).
    with _argv(parsed_argv):
        return _parse_flags_in(argv, parsed_argv, none_paths, flag_values)


@contextlib.contextmanager
def _argv(argv):
    """`sys.argv` is `argv` inside the `with` body."""
    saved, sys.argv = sys.argv, list(argv)
    try:
        yield
    finally:
        sys.argv = saved


def _parse_flags_in(argv, parsed_argv, none_paths, flag_values):
    try:
        remaining = flag_values(parsed_argv)
        if "config" in flag_values:
            # The config file loads lazily; a missing or broken file must fail
            # here, as one line, not as a traceback from inside main.
            try:
                config = flag_values["config"].value
                if config is not None:  # Optional for bin/benchmark --workdir.
                    config.get("data")
            except OSError as err:
                reason = str(err).strip().splitlines()[-1].strip()
                fail(f"the --config file cannot be loaded: {reason}")
            if none_paths and config is None:
                fail(f"--config.{none_paths[0]}=None needs a --config file")
            message = none_paths and none_overrides.apply(config, none_paths)
            if message:
                fail(message)
        return remaining
    except flags.Error as err:
        fail(missing_flags_message(err, flag_values) or _one_line(err))
    except Exception as err:  # A config file that fails to load or override.
        message = unknown_field_message(err, argv)
        fail(message or f"the config cannot be loaded: {_one_line(err)}")


def missing_flags_message(err, flag_values):
    """absl's "Flag --workdir must have a value other than None" -> one line.

    None unless `err` is the error of flags marked required that are missing.
    """
    names = re.findall(r"Flag --(\S+) must have a value other than None", str(err))
    if not names:
        return None
    helps = [flag_values[name].help.rstrip(".") for name in names]
    return "; ".join(
        f"--{name} is required: {text[:1].lower()}{text[1:]}"
        for name, text in zip(names, helps)
    )


def unknown_field_message(err, argv):
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
