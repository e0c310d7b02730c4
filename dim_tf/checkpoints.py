"""Checkpoints: restore-or-init and periodic saves with `tf.train.CheckpointManager`.

A checkpoint holds every model, both optimizers and the step. The data stream
is a pure function of (seed, step) (see `dim_tf.data`), so the step alone puts
the input pipeline back where it was.
"""

import os
import shutil
import tempfile

import tensorflow as tf

from dim_tf.errors import UserError


class Checkpointer:
    """Saves and restores one run's state.

    Under MultiWorkerMirroredStrategy every worker must take part in a save;
    only the chief writes to the workdir, the others to a temporary directory
    they remove again.
    """

    def __init__(self, directory, items, keep=3, is_chief=True):
        """Args:
        directory: `DIR/checkpoints`.
        items: name -> trackable (models, optimizers, step variable).
        keep: how many recent checkpoints to keep.
        is_chief: whether this process writes to `directory`.
        """
        self.is_chief = is_chief
        self.directory = directory if is_chief else tempfile.mkdtemp(prefix="dim_ckpt_")
        self.checkpoint = tf.train.Checkpoint(**items)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.directory, max_to_keep=keep
        )

    @property
    def latest(self):
        """Path of the newest checkpoint, or None."""
        return self.manager.latest_checkpoint

    def restore_latest(self):
        """Restores the newest checkpoint if there is one; returns its path or None."""
        path = self.manager.latest_checkpoint
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise UserError(
                f"checkpoint {path} cannot be restored ({type(err).__name__}: "
                f"{first_line[:200]}); delete it to fall back to an older one"
            ) from None
        return path

    def save(self, step):
        """Writes a checkpoint for `step` (every worker must call this)."""
        path = self.manager.save(checkpoint_number=step)
        if not self.is_chief:
            shutil.rmtree(self.directory, ignore_errors=True)
            os.makedirs(self.directory, exist_ok=True)
        return path

    def close(self):
        """Removes a non-chief worker's temporary directory."""
        if not self.is_chief:
            shutil.rmtree(self.directory, ignore_errors=True)
