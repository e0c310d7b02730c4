"""`--config.FIELD=VALUE` overrides: their fields checked, and None set here.

ml_collections parses an override with the field's type, so a float or int
field (e.g. `train.max_minutes`, None = no time limit) cannot read "None":
`split` takes those out of argv and `set_none` applies them after parsing.
"""

import difflib
import re

# absl's spellings: --config.a.b=V, -config.a.b V, --noconfig.a.b (a bool).
_OVERRIDE = re.compile(r"--?(?:no)?config\.([^=]*)(?:=(.*))?", re.DOTALL)
# Python's spelling only: "none" is a value of string fields (augment.preset).
_NONE = "None"


def is_override(arg):
    """Whether `arg` is a `--config.FIELD...` override."""
    return _OVERRIDE.fullmatch(arg) is not None


def unknown_field_message(config, argv):
    """A one-line message for the first override in `argv` naming no field of `config`.

    Args:
      config: the loaded `ConfigDict`, before the overrides.
      argv: the command line.

    Returns:
      None when every override names a field (of a section at any depth).
    """
    for arg in filter(is_override, argv):
        path = _OVERRIDE.fullmatch(arg).group(1)
        node, parents = config, []
        for name in path.split("."):
            if not hasattr(node, "keys"):  # Not a section (a ConfigDict).
                hint = f"{'.'.join(parents)} is a value, not a section"
            elif name not in node:
                hint = _hint(node, parents, name)
            else:
                node = node[name]
                parents.append(name)
                continue
            return f"unknown config field {path!r} in {arg} ({hint})"
    return None


def _hint(section, parents, name):
    """ "did you mean a.b?" or the fields of `section`."""
    prefix = "".join(f"{parent}." for parent in parents)
    fields = sorted(section.keys())
    close = difflib.get_close_matches(name, fields, n=3)
    if close:
        return f"did you mean {' or '.join(prefix + field for field in close)}?"
    where = f"the fields of {prefix[:-1]}" if parents else "the config's fields"
    return f"{where}: {', '.join(fields)}"


def split(argv):
    """`(argv without the None overrides, their field paths)`.

    A path appears only when its last override in argv is None, as the last
    override wins in absl: `--config.x=None --config.x=5` sets 5.
    """
    overrides = [_OVERRIDE.fullmatch(arg) for arg in argv]
    last = dict(match.groups() for match in overrides if match)
    paths = [path for path, value in last.items() if value == _NONE]
    kept = [
        arg
        for arg, match in zip(argv, overrides)
        if not match or match.group(2) != _NONE
    ]
    return kept, paths


def set_none(config, paths):
    """Sets each dotted path of `config` (fields `unknown_field_message` passed) to None."""
    for path in paths:
        *parents, leaf = path.split(".")
        node = config
        for name in parents:
            node = node[name]
        node[leaf] = None
