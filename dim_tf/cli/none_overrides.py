"""`--config.FIELD=None`: setting a config field to None from the command line.

ml_collections parses a field's override with the field's type, so a
float or int field (e.g. `train.max_minutes`, whose None means "no time
limit") cannot read "None". `split` takes those overrides out of argv
before absl parses it; `apply` sets the fields to None afterwards. The
last override of a field wins, as with absl: `--config.x=None
--config.x=5` sets 5.
"""

_PREFIX = "--config."
# Python's spelling only: "none" is a value of string fields (augment.preset).
_NONE = ("None",)


def split(argv):
    """`(argv without the None overrides, their field paths)`.

    Args:
      argv: the command line, e.g. `["bin/train", "--config=...",
        "--config.train.max_minutes=None"]`.

    Returns:
      `(list of the other arguments, list of dotted paths such as
      "train.max_minutes")`: a path appears only when its last override
      in argv is None.
    """
    overrides = [_override(arg) for arg in argv]
    last = dict(override for override in overrides if override)
    paths = [path for path, value in last.items() if value in _NONE]
    # Every None override goes: one overridden later is simply not applied.
    kept = [
        arg
        for arg, override in zip(argv, overrides)
        if not override or override[1] not in _NONE
    ]
    return kept, paths


def _override(arg):
    """`(path, value)` of a `--config.PATH=VALUE` argument, else None."""
    if not arg.startswith(_PREFIX) or "=" not in arg:
        return None
    path, value = arg[len(_PREFIX) :].split("=", 1)
    return path, value


def apply(config, paths):
    """Sets each dotted path of `config` (a ConfigDict) to None.

    Returns:
      None, or a one-line message naming the first path that is not a
      field of `config` (nothing is set then).
    """
    targets = []
    for path in paths:
        *parents, leaf = path.split(".")
        node = config
        for name in parents:
            node = node.get(name) if hasattr(node, "get") else None
        if not hasattr(node, "get") or leaf not in node:
            return (
                f"unknown config field {path!r} in --config.{path}=None "
                "(see the config file for its fields)"
            )
        targets.append((node, leaf))
    for node, leaf in targets:
        node[leaf] = None
    return None
