"""Crash-safe writes: a file or directory is replaced whole or not at all.

New content is written beside its target under a hidden name, then renamed
into place. A directory cannot be renamed over a non-empty one, so the old
directory is first renamed aside (`NAME.old-*`) and removed after the swap;
`recover` puts it back if a crash fell between the two renames.
"""

import json
import os
import shutil
import tempfile

_STAGING_PREFIX = ".staging-"
_OLD_MARK = ".old-"


def write_json(path, value):
    """Writes `value` as indented JSON to `path` via a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def staging_dir(parent):
    """A new empty hidden directory in `parent` to build content in before `replace_dir`."""
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=parent)


def replace_dir(staged, target):
    """Moves the directory `staged` to `target`, replacing any existing `target`.

    Both must be on the same file system (stage in the target's parent).
    """
    old = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(
            prefix=os.path.basename(target) + _OLD_MARK, dir=os.path.dirname(target)
        )
        os.rmdir(old)  # Only its unique name is wanted.
        os.rename(target, old)
    os.rename(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def recover(parent):
    """Undoes what a crash left in `parent`: half-built staging dirs, moved-aside olds.

    An `X.old-*` directory whose `X` is missing is renamed back to `X` (the
    crash fell between the two renames of `replace_dir`); otherwise removed.
    """
    if not os.path.isdir(parent):
        return
    for name in sorted(os.listdir(parent)):
        path = os.path.join(parent, name)
        if name.startswith(_STAGING_PREFIX):
            shutil.rmtree(path, ignore_errors=True)
        elif _OLD_MARK in name:
            target = os.path.join(parent, name.split(_OLD_MARK)[0])
            if os.path.exists(target):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.rename(path, target)
