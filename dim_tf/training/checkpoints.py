"""Checkpoints: restore the newest complete one, save every N steps.

A checkpoint holds every model, both optimizers and the step. The data stream
is a pure function of (seed, step) (see `dim_tf.input.pipeline`), so the step alone puts
the input pipeline back where it was.

A checkpoint is never half-written: TensorFlow writes its files under
`ckpt-N_temp/`, renames them into place, and only then rewrites the
`checkpoint` state file (atomically) to point at it. A process killed at any
moment leaves the state file naming the previous complete checkpoint, at
worst with an orphaned `ckpt-N_temp/` directory, which the next chief removes.

`newest_checkpoint` is the one rule for which checkpoint a run is at:
training resumes from it, and evaluation, export and embeddings load it
(`dim_tf.training.runs`), so all of them agree after a damaged checkpoint
was moved away.

Saving is `tf.train.CheckpointManager`'s: it numbers checkpoints by the step
counter, saves when `checkpoint_interval` steps have passed since the last
save and keeps the newest `max_to_keep`. Restoring stays hand-written,
because `CheckpointManager.restore_or_initialize` does three things this
module must not (TensorFlow 2.21):
- without the `checkpoint` state file (deleted, or lost with a copied
  workdir) it finds no checkpoint and starts from step 0, although complete
  `ckpt-N` files are there; here the newest complete one is restored;
- a damaged state file only logs a warning and again starts from step 0;
  here it is a one-line error that says to move the file away;
- it returns no load status, so a checkpoint that lacks some of the models
  (e.g. another objective's) restores silently with those models left
  freshly initialised; here `assert_existing_objects_matched` refuses it.
Writes that fail (a full disk) become one-line `TrainingError`s.
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

    Under MultiWorkerMirroredStrategy every worker must take part in a save;
    only the chief writes to the workdir, the others to a temporary directory
    they remove again. Every worker restores from the workdir's checkpoints
    (which must be on a filesystem all workers see), so all resume from the
    same step.
    """

    def __init__(self, directory, items, keep=3, is_chief=True, every=None):
        """Args:
        directory: `DIR/checkpoints`.
        items: name -> trackable (models, optimizers, and the int64 step
          variable under "step", which numbers the checkpoints).
        keep: how many recent checkpoints to keep.
        is_chief: whether this process writes to `directory`.
        every: `save()` writes only at multiples of this many steps (None:
          at every call).
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
        self.manager = self._make_manager()
        self._latest = None

    def _make_manager(self, last_step="aligned"):
        """A `CheckpointManager` whose next interval save is at the next multiple.

        The manager saves when `every` steps have passed since its last save;
        counting from the multiple of `every` at or below the current step
        keeps saves at multiples of `every` after a resume from any step
        (e.g. one a stop signal saved).
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
        """Restores the newest checkpoint if there is one; returns its path or None.

        The newest is `newest_checkpoint`'s, the one every command loads.

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
        """Writes a checkpoint of the current step, if one is due (every worker calls this).

        Args:
          force: write even between multiples of `every` (e.g. the last step,
            or a stop); a checkpoint of this step that exists already is kept.

        Returns:
          The checkpoint's path in `directory`, or None when none was due.

        Raises:
          TrainingError: the checkpoint cannot be written (e.g. the disk is
            full); its partial files are removed, the older ones kept.
          tf.errors.OpError: under MultiWorkerMirroredStrategy, another
            worker was lost during the save (`lost_workers.is_lost_worker`),
            unchanged.
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

    The one the `checkpoint` state file names, when its index and data files
    are there; when that file is missing, or names a checkpoint whose files
    were moved away, the highest-numbered complete `ckpt-N` in `directory`
    (logged as a warning naming it). A checkpoint whose files are there but
    damaged is still the newest: `restore` refuses it and says which one to
    fall back to.

    Args:
      directory: `DIR/checkpoints`.
      warn: log which checkpoint is used when the state file names another.

    Returns:
      The checkpoint's path prefix (`DIR/checkpoints/ckpt-N`), or None when
      there is none.

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
