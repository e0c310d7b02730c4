"""Checkpoints: restore the newest complete one, save every N steps.

A checkpoint holds every model, both optimizers and the step (the data stream
is a function of seed and step). `newest_checkpoint` is the one rule every
command loads by. Restoring is hand-written because TensorFlow 2.21's
`CheckpointManager.restore_or_initialize` starts from step 0 without or with a
damaged state file, and restores a checkpoint lacking some models silently.
"""

import glob
import os
import re
import shutil
import tempfile

import tensorflow as tf
from absl import logging

from dim_tf.errors import TrainingError, UserError
from dim_tf.training import lost_workers


class Checkpointer:
    """Saves and restores one run's state.

    Under MultiWorkerMirroredStrategy every worker saves; only the chief writes
    to the workdir (the others to a temporary directory). All restore from the
    workdir, which all workers must see.
    """

    def __init__(self, directory, items, keep=3, is_chief=True, every=None):
        """Args:
        directory: `DIR/checkpoints`.
        items: name -> trackable (models, optimizers, the int64 step under
          "step", which numbers the checkpoints).
        keep: how many recent checkpoints to keep.
        is_chief: whether this process writes to `directory`.
        every: `save()` writes only at multiples of this many steps (None: always).
        """
        self.directory = directory
        self._items = dict(items)
        self.is_chief = is_chief
        self.every = every
        if is_chief:
            self._write_directory = directory
            _remove_orphaned_temp_dirs(directory)
        else:
            self._write_directory = tempfile.mkdtemp(prefix="dim_ckpt_")
        self.checkpoint = tf.train.Checkpoint(**items)
        self.step = items["step"]
        self._keep = keep
        self.manager = self._make_manager()  # Counts the interval from here.
        self._latest = None

    def _make_manager(self, last_step="aligned"):
        """A `CheckpointManager` whose next interval save is at the next multiple.

        Counting from the multiple of `every` at or below the step keeps saves
        at multiples of `every` after a resume from any step.
        """
        if self.every is not None and last_step == "aligned":
            last_step = int(self.step.numpy()) // self.every * self.every
        return _read_state(
            self.directory,
            lambda: tf.train.CheckpointManager(
                self.checkpoint,
                self._write_directory,
                max_to_keep=self._keep,
                step_counter=self.step,
                checkpoint_interval=self.every,
                last_checkpoint_step=None if self.every is None else last_step,
            ),
        )

    @property
    def latest(self):
        """Path (in `directory`) of the checkpoint restored or saved last, or None."""
        return self._latest

    def restore_latest(self):
        """Restores `newest_checkpoint`, if any; returns its path or None.
        Raises:
          UserError: the newest checkpoint or the state file is damaged, or the
            checkpoint does not fit the models (nothing is changed on disk).
        """
        path = newest_checkpoint(self.directory)
        if path is None:
            return None
        restore(path, self._items)
        self._latest = path
        self.manager = self._make_manager()  # Counts the interval from here.
        return path

    def save(self, force=False):
        """Writes a checkpoint of this step if one is due (every worker calls this).

        Args:
          force: write even between multiples of `every`; an existing
            checkpoint of this step is kept.

        Returns:
          The checkpoint's path in `directory`, or None when none was due.

        Raises:
          TrainingError: the checkpoint cannot be written (e.g. a full disk);
            its partial files are removed, the older ones kept.
          tf.errors.OpError: a lost worker (`lost_workers.is_lost_worker`).
        """
        step = int(self.step.numpy())
        if force and self._latest is not None and self._latest.endswith(f"-{step}"):
            return self._latest
        try:
            path = self.manager.save(
                checkpoint_number=self.step, check_interval=not force
            )
            if path is None and force:  # The manager started counting here.
                self.manager = self._make_manager(last_step=None)
                path = self.manager.save(checkpoint_number=self.step)
        except (tf.errors.OpError, OSError) as err:
            if lost_workers.is_lost_worker(err):
                raise  # Not this disk's fault: the training loop names the worker.
            # A full disk, a quota, a lost mount: keep what is there and say so.
            raise self._save_failed(step, err) from None
        if path is None:
            return None
        if not self.is_chief:
            shutil.rmtree(self._write_directory, ignore_errors=True)
            os.makedirs(self._write_directory, exist_ok=True)
            path = os.path.join(self.directory, os.path.basename(path))
        self._latest = path
        return path

    def _save_failed(self, step, err):
        """The `TrainingError` for a save of `step` that could not be written."""
        temp = os.path.join(self._write_directory, f"ckpt-{step}_temp")
        shutil.rmtree(temp, ignore_errors=True)  # Frees what the save took.
        kept = _complete_checkpoints(self.directory)
        last = (
            f"the last complete checkpoint, {os.path.basename(kept[0])}, is kept"
            if kept
            else "no complete checkpoint is kept"
        )
        return TrainingError(
            f"checkpoint ckpt-{step} cannot be written to {self._write_directory} "
            f"({type(err).__name__}: {_detail(err)}); {last}: make room or fix "
            "the directory, then rerun the same command to resume"
        )

    def close(self):
        """Removes a non-chief worker's temporary directory."""
        if not self.is_chief:
            shutil.rmtree(self._write_directory, ignore_errors=True)


def newest_checkpoint(directory, warn=True):
    """The checkpoint a run resumes from, and is evaluated, exported and embedded at.

    The one the state file names when its files are there, else the newest
    complete `ckpt-N` (logged). A damaged one is still the newest: `restore`
    refuses it and names the one to fall back to.

    Args:
      directory: `DIR/checkpoints`.
      warn: log which checkpoint is used when the state file names another.

    Returns:
      The path prefix `DIR/checkpoints/ckpt-N`, or None.

    Raises:
      UserError: the state file is damaged.
    """
    state_file = os.path.join(directory, "checkpoint")
    state = _read_state(directory, lambda: tf.train.get_checkpoint_state(directory))
    if state is None and os.path.exists(state_file):
        raise _state_error(directory, "unreadable")  # TF only warns.
    if state is not None and _is_complete(state.model_checkpoint_path):
        return state.model_checkpoint_path
    on_disk = _complete_checkpoints(directory)
    if not on_disk:
        return None
    if warn:
        named = (
            f"names {os.path.basename(state.model_checkpoint_path)}, whose files "
            "are not all there"
            if state is not None
            else "is missing"
        )
        logging.warning(
            "%s %s; using the newest complete checkpoint, %s",
            state_file,
            named,
            os.path.basename(on_disk[0]),
        )
    return on_disk[0]


def restore(path, items):
    """Restores checkpoint `path` into `items`, all of which it must hold.

    Args:
      path: a checkpoint's path prefix (e.g. `newest_checkpoint`'s).
      items: name -> trackable, as saved (`Checkpointer`'s items).

    Raises:
      UserError: the checkpoint is damaged or does not fit `items` (nothing
        is changed on disk); the message names the complete checkpoint
        before it, to fall back to.
    """
    try:
        tf.train.Checkpoint(**items).restore(path).assert_existing_objects_matched()
    except Exception as err:  # Damaged files fail in many ways.
        directory = os.path.dirname(path)
        older = [p for p in _complete_checkpoints(directory) if p != path]
        advice = (
            f"move its files ({os.path.basename(path)}.*) away to resume from "
            f"{os.path.basename(older[0])}"
            if older
            else "move its files away to start again from step 0"
        )
        raise UserError(
            f"checkpoint {path} cannot be restored ({type(err).__name__}: "
            f"{_detail(err)}); {advice}"
        ) from None


def _read_state(directory, read):
    """`read()`, with an unreadable `checkpoint` state file as a `UserError`."""
    try:
        return read()
    except Exception as err:  # A damaged state file fails in many ways.
        raise _state_error(directory, type(err).__name__) from None


def _state_error(directory, reason):
    state = os.path.join(directory, "checkpoint")
    return UserError(
        f"{state} is damaged ({reason}); it names the latest checkpoint: move it "
        "away to resume from the newest complete ckpt-N in that directory"
    )


def _is_complete(prefix):
    """Whether checkpoint `prefix` has its index and data files."""
    return os.path.exists(prefix + ".index") and bool(
        glob.glob(glob.escape(prefix) + ".data-*")
    )


def _complete_checkpoints(directory):
    """Prefixes of the complete `ckpt-N` checkpoints in `directory`, newest first."""
    numbered = []
    for index in glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index")):
        prefix = index[: -len(".index")]
        number = prefix.rsplit("-", 1)[1]
        if number.isdigit() and _is_complete(prefix):
            numbered.append((int(number), prefix))
    return [prefix for _, prefix in sorted(numbered, reverse=True)]


def _detail(err):
    """The informative first line of an error, without TF's node prefix."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", str(err)).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _remove_orphaned_temp_dirs(directory):
    """Removes `ckpt-N_temp/` left by a process killed while saving."""
    for path in glob.glob(os.path.join(glob.escape(directory), "*_temp")):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
