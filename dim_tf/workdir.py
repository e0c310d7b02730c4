"""The run's workdir: its config.json, and the check that a rerun is the same run.

Layout: `DIR/config.json` (the full config), `DIR/checkpoints/`, TensorBoard
event files under `DIR/train/`. Rerunning a command on the same workdir
resumes it; a config that changes what the run computes is refused, naming
the fields, so a typo never silently mixes two experiments in one directory.
"""

import json
import os

from dim_tf.errors import UserError

CONFIG_FILE = "config.json"

# Fields that may change between a run and its resumption: how long, how
# often to log and save, where data lives and which hardware runs it.
RESUMABLE_FIELDS = frozenset(
    {
        "data_dir",
        "manual_dir",
        "strategy",
        "tpu",
        "train.steps",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.steps_per_call",
        "data.cache",
        "train.jit_compile",
    }
)
# Evaluation settings never change what training computes.
RESUMABLE_SECTIONS = ("eval.",)


def flatten(tree, prefix=""):
    """Nested dict -> {"a.b": value}."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_differences(old, new):
    """Dotted names of fields that differ between two config dicts, sorted."""
    old_flat, new_flat = flatten(old), flatten(new)
    return sorted(
        name
        for name in set(old_flat) | set(new_flat)
        if old_flat.get(name, "<unset>") != new_flat.get(name, "<unset>")
    )


def check_workdir_path(workdir):
    """Raises `UserError` when `workdir` cannot be a run directory."""
    if not workdir:
        raise UserError("--workdir is required: the directory for checkpoints and logs")
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise UserError(f"--workdir {workdir!r} exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(workdir))
    existing = workdir if os.path.isdir(workdir) else parent
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--workdir {workdir!r} is not writable")


def read_config(workdir):
    """The config dict recorded in `workdir`, or None when there is none."""
    return read_json(
        os.path.join(workdir, CONFIG_FILE), remedy="move it away to start afresh"
    )


def read_json(path, remedy):
    """The JSON value in `path`, or None when the file does not exist.

    Raises:
      UserError: the file exists but cannot be read or parsed; the message
        ends with `remedy`, what the user should do about it.
    """
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f"{path} is unreadable ({err}); {remedy}") from None


def check_same_run(workdir, config_dict):
    """Raises `UserError` if `workdir` records a different run than `config_dict`.

    Args:
      workdir: run directory (may not exist yet).
      config_dict: the new config as a plain nested dict.
    """
    recorded = read_config(workdir)
    if recorded is None:
        return
    changed = [
        name
        for name in config_differences(recorded, config_dict)
        if name not in RESUMABLE_FIELDS and not name.startswith(RESUMABLE_SECTIONS)
    ]
    if changed:
        details = ", ".join(
            f"{name}: {flatten(recorded).get(name)!r} -> {flatten(config_dict).get(name)!r}"
            for name in changed
        )
        raise UserError(
            f"{workdir} holds a run with a different config ({details}); "
            "use a new --workdir, or rerun with the recorded values to resume"
        )


def write_config(workdir, config_dict):
    """Writes `DIR/config.json` atomically (a crash leaves the old file)."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, CONFIG_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config_dict, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
