"""One training process per workdir: an exclusive lock on `DIR/lock`.

The lock is a `flock` on the file, which the kernel releases when its owner
exits in any way (including SIGKILL), so a dead process's lock is simply
taken over. The file holds the owner's host and pid, for the message a second
process gets.
"""

import contextlib
import errno
import fcntl
import os
import socket

from absl import logging

from dim_tf.errors import UserError

LOCK_FILE = "lock"


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
