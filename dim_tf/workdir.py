"""The run's workdir: config.json, the same-run check, the lock, atomic writes.

Layout: `DIR/config.json` (the full config, `dim_tf.config.to_record`),
`DIR/checkpoints/`, TensorBoard event files under `DIR/train/`, `DIR/lock`.
Rerunning a command on the same workdir resumes it; a config that changes
what the run computes is refused, naming the fields, so a typo never silently
mixes two experiments in one directory.

One training process per workdir: `workdir_lock` is an exclusive `flock` on
`DIR/lock`, which the kernel releases when its owner exits in any way
(including SIGKILL), so a dead process's lock is simply taken over. The file
holds the owner's host and pid, for the message a second process gets.

Crash-safe writes: a file or directory is replaced whole or not at all. New
content is written beside its target under a hidden name, then renamed into
place. A directory cannot be renamed over a non-empty one, so the old
directory is first renamed aside (`NAME.old-*`) and removed after the swap;
`recover` puts it back if a crash fell between the two renames.
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

# Fields that may change between a run and its resumption: how long, how
# often to log and save, where data lives and which hardware runs it.
RESUMABLE_FIELDS = frozenset(
    {
        "data.data_dir",
        "data.manual_dir",
        "strategy",
        "tpu",
        "train.steps",
        "train.max_minutes",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
        "train.steps_per_call",
        "data.cache",
        "train.jit_compile",
    }
)
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
    """Raises `UserError` if `workdir` records a different run than `config`.

    Args:
      workdir: run directory (may not exist yet).
      config: the new run's ConfigDict.
    """
    recorded = read_config(workdir)
    if recorded is None:
        return
    # Read back as a config and recorded again: compared in the types and
    # form `to_record` gives the new run's config.
    recorded = config_lib.to_record(config_lib.from_record(recorded))
    recorded_flat = config_lib.flatten(recorded)
    config_dict = config_lib.to_record(config)
    resumable = RESUMABLE_FIELDS
    if config_dict["data"]["shuffle_buffer"] is None:
        # The default buffer is a full shuffle only when cached: toggling the
        # cache would change the stream the run resumes in.
        resumable = resumable - {"data.cache"}
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
    """Writes `DIR/config.json` atomically (a crash leaves the old file).

    Args:
      workdir: the run directory; created if missing.
      config_dict: `dim_tf.config.to_record(config)`.
    """
    write_json(os.path.join(workdir, CONFIG_FILE), config_dict, sort_keys=True)


def write_json(path, value, sort_keys=False):
    """Writes `value` as indented JSON to `path` via a temporary file and a rename.

    The one JSON writer of dim_tf: a reader never sees a half-written file.
    """
    with replaced_file(path) as tmp, open(tmp, "w") as f:
        json.dump(value, f, indent=2, sort_keys=sort_keys)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def replaced_file(path):
    """The path of a new hidden file beside `path` that replaces it when the block ends.

    Write the new content to the yielded path (and close it) inside the
    block: when the block ends without an exception the file is renamed to
    `path` (an atomic replace), else it is removed and `path` stays as it
    was. The directory of `path` is created if missing.
    """
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


@contextlib.contextmanager
def workdir_lock(workdir, enabled=True):
    """Holds the workdir's lock for the duration of the `with` block.

    Creates `workdir` if needed. Under multi-worker training only the chief
    takes the lock (every worker uses the same workdir).

    Args:
      workdir: the run directory.
      enabled: False yields without locking.

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
