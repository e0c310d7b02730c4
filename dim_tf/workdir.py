"""The run's workdir: config.json, the same-run check, the lock, atomic writes.

Layout: `DIR/config.json`, `DIR/checkpoints/`, `DIR/train/` (TensorBoard),
`DIR/lock`. A resumed run may change only the `dim_tf.config.resumable_fields`
of both the recorded and the new config, so a typo never mixes two
experiments in one directory. The lock is a `flock`, released by the kernel
however its owner exits. Writes go to a hidden file or directory beside the
target, then are renamed into place.
"""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import tempfile

from absl import logging

from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import settings as evaluator_settings

CONFIG_FILE = "config.json"
LOCK_FILE = "lock"
_STAGING_PREFIX = ".staging-"
_OLD_MARK = ".old-"

# Evaluation settings never change what training computes.
RESUMABLE_SECTIONS = evaluator_settings.RESUMABLE


def config_differences(old, new):
    """Dotted names of fields that differ between two config dicts, sorted."""
    old_flat, new_flat = config_lib.flatten(old), config_lib.flatten(new)
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


def check_same_run(workdir, config):
    """Raises `UserError` if `workdir` (which may not exist) records another run."""
    recorded = read_config(workdir)
    if recorded is None:
        return
    # Compared in the form `to_record` gives the new run's config.
    recorded = config_lib.to_record(config_lib.from_record(recorded))
    recorded_flat = config_lib.flatten(recorded)
    config_dict = config_lib.to_record(config)
    # What both the recorded and the new run allow to change.
    resumable = config_lib.resumable_fields(config_dict) & config_lib.resumable_fields(
        recorded
    )
    changed = [
        name
        for name in config_differences(recorded, config_dict)
        if name not in resumable and not name.startswith(RESUMABLE_SECTIONS)
    ]
    if changed:
        new_flat = config_lib.flatten(config_dict)
        details = ", ".join(
            f"{name}: {recorded_flat.get(name)!r} -> {new_flat.get(name)!r}"
            for name in changed
        )
        raise UserError(
            f"{workdir} holds a run with a different config ({details}); "
            "use a new --workdir, or rerun with the recorded values to resume"
        )


def write_config(workdir, config_dict):
    """Writes `config_dict` (`config.to_record`) to `DIR/config.json` atomically."""
    write_json(os.path.join(workdir, CONFIG_FILE), config_dict, sort_keys=True)


def write_json(path, value, sort_keys=False):
    """Writes `value` as indented JSON to `path` atomically (dim_tf's one JSON writer)."""
    with replaced_file(path) as tmp, open(tmp, "w") as f:
        json.dump(value, f, indent=2, sort_keys=sort_keys)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def replaced_file(path):
    """A new hidden file beside `path` that replaces it if the block ends without error."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        # mkstemp's 0600 would hide the file from others: the umask decides.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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
    """Moves the directory `staged` over `target` (same file system: use `staging_dir`)."""
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
    """Undoes a crash in `parent`: staging dirs removed, an `X.old-*` back to a missing `X`."""
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


@contextlib.contextmanager
def workdir_lock(workdir, enabled=True):
    """Holds the workdir's lock (created if needed) for the `with` block.

    Args:
      workdir: the run directory.
      enabled: False yields without locking (multi-worker: only the chief locks).

    Raises:
      UserError: another live process holds the lock.
    """
    if not enabled:
        yield
        return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        locked = _lock(fd, path, workdir)
        if locked:
            os.ftruncate(fd, 0)
            owner = f"pid {os.getpid()} on {socket.gethostname()}\n"
            os.pwrite(fd, owner.encode(), 0)
        try:
            yield
        finally:
            if locked:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # Releases the flock.


def _lock(fd, path, workdir):
    """Takes the flock on `fd`; False when the filesystem has no locks."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            owner = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise UserError(
                f"workdir {workdir} is in use by another training process "
                f"({owner or 'unknown pid'}, lock {path}); wait for it to finish or "
                "stop it, or use another --workdir"
            ) from None
        # Some network and FUSE filesystems have no locks: train anyway.
        logging.warning(
            "cannot lock %s (%s): a second run on this workdir will not be detected",
            path,
            err.strerror,
        )
        return False
