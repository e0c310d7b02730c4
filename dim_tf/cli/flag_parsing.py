"""An entry point's flags and `--config` overrides, parsed, or failed as one line.

The checks are dim_tf's own (required flags, the overrides' fields); any other
error of absl or ml_collections becomes one line too. Exit status 2.
"""

import sys

from absl import flags

from dim_tf.cli import overrides
from dim_tf.cli.exits import fail
from dim_tf.errors import UserError


def parse_flags(argv, flag_values, required=()):
    """absl's flags parser for `app.run`: the arguments left after the flags.

    Args:
      argv: the command line.
      flag_values: the entry point's `absl.flags.FlagValues`.
      required: names of the flags that must have a value.
    """
    try:
        if "config" not in flag_values:
            remaining = flag_values(argv)
            _check_required(flag_values, required)
            return remaining
        return _parse_with_config(argv, flag_values, required)
    except flags.Error as err:  # E.g. a value that does not parse as its type.
        fail(_one_line(err))
    except Exception as err:  # E.g. the config file's get_config() raised.
        fail(f"the config cannot be loaded: {_one_line(err)}")


def _parse_with_config(argv, flag_values, required):
    # The config loads without the overrides first, so that their fields are
    # checked here before ml_collections applies them (a second load).
    plain = [arg for arg in argv if not overrides.is_override(arg)]
    remaining = _parse(plain, flag_values)
    _check_required(flag_values, required)
    config = _loaded_config(flag_values)
    if len(plain) == len(argv):
        return remaining
    if config is None:
        first = next(filter(overrides.is_override, argv))
        fail(f"{first} needs a --config file")
    message = overrides.unknown_field_message(config, argv)
    if message:
        fail(message)
    kept, none_paths = overrides.split(argv)
    remaining = _parse(kept, flag_values)
    overrides.set_none(flag_values["config"].value, none_paths)
    return remaining


def _parse(argv, flag_values):
    """`flag_values(argv)`; the config flag reads its overrides from `sys.argv`."""
    saved, sys.argv = sys.argv, list(argv)
    try:
        return flag_values(argv)
    finally:
        sys.argv = saved


def _check_required(flag_values, required):
    message = missing_flags_message(flag_values, required)
    if message:
        fail(message)


def missing_flags_message(flag_values, required):
    """ "--NAME is required: its help" for each `required` flag without a value, or None."""
    missing = [name for name in required if flag_values[name].value is None]
    helps = [flag_values[name].help.rstrip(".") for name in missing]
    return (
        "; ".join(
            f"--{name} is required: {text[:1].lower()}{text[1:]}"
            for name, text in zip(missing, helps)
        )
        or None
    )


def _loaded_config(flag_values):
    """The `--config` ConfigDict, or None; a file that did not load fails here."""
    try:
        config = flag_values["config"].value
        if config is not None:
            config.get("data")  # A file that did not load raises on first use.
        return config
    except OSError as err:
        reason = str(err).strip().splitlines()[-1].strip()
        fail(f"the --config file cannot be loaded: {reason}")


def _one_line(err):
    text = " ".join(str(err).split())
    return text if len(text) < 400 else text[:400] + "..."


def reject_extra_arguments(argv):
    """Raises `UserError` for positional arguments (all input goes through flags)."""
    if len(argv) > 1:
        raise UserError(
            f"unexpected arguments {' '.join(argv[1:])!r}; use --flags only"
        )
