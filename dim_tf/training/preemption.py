"""Stopping cleanly on SIGTERM (preemption) or SIGINT (Ctrl-C).

The signal handler only records the signal. The eager training loop asks
`StopSignals.requested` between `tf.function` calls, so training stops within
`train.steps_per_call` steps of the signal, saves a checkpoint and raises
`Interrupted`. Under multi-worker training the request is summed over all
workers, so every worker stops after the same step and takes part in the
save. A second SIGINT raises `KeyboardInterrupt` at once (no checkpoint).

Why not `tf.distribute.experimental.PreemptionCheckpointHandler` (TensorFlow
2.21, MultiWorkerMirroredStrategy): it cannot give this behaviour.
- It restores at construction with `CheckpointManager.restore_or_initialize`,
  which skips the fallbacks and one-line errors of
  `dim_tf.training.checkpoints` (no state file -> silently step 0).
- It adds a `checkpointed_runs` variable to the checkpoint, so the
  checkpoints of existing runs fail `assert_existing_objects_matched`.
- On SIGTERM it trains one more step, saves (numbered by the checkpoint's
  save counter unless the caller passes the step) and ends the process
  itself through `exit_fn` (`sys.exit(42)` off Google Cloud), never
  returning to the loop: no `Interrupted`, no exit status 143, no message
  naming the step and the checkpoint.
- It replaces the process's SIGTERM handler for good and ignores SIGINT.
Across workers it agrees on the step to stop at through the coordination
service; here one all-reduce of a flag per `tf.function` call does the same.
"""

import signal

import tensorflow as tf

from dim_tf.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Context manager that turns SIGTERM / SIGINT into a stop request."""

    def __init__(self, signals=SIGNALS):
        self.signals = tuple(signals)
        self.signum = None
        self._previous = {}

    def __enter__(self):
        for signum in self.signals:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # Not the main thread: signals stay as they were.
                break
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return False

    def _handle(self, signum, frame):
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def requested(self, strategy):
        """Whether any worker received a stop signal (every worker must call this).

        Args:
          strategy: the run's `tf.distribute.Strategy`.

        Returns:
          bool, the same on every worker.
        """
        return any_worker(strategy, self.signum is not None)

    def interrupted(self, step, checkpoint):
        """The `Interrupted` error to raise after saving `checkpoint` at `step`."""
        signum = self.signum or signal.SIGTERM
        name = (
            signal.Signals(signum).name if self.signum else "a signal to another worker"
        )
        return Interrupted(
            f"stopped by {name} at step {step}; saved checkpoint {checkpoint}; "
            "rerun the same command to resume",
            signum,
        )


def any_worker(strategy, flag):
    """Whether `flag` is True on any worker (every worker must call this).

    Under MultiWorkerMirroredStrategy the flags are summed over all replicas
    (one all-reduce), so every worker gets the same answer and stops after
    the same step; otherwise `flag` itself.

    Args:
      strategy: the run's `tf.distribute.Strategy`.
      flag: this worker's bool.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return bool(flag)
    flags = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant(1.0 if flag else 0.0)
    )
    return float(strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None)) > 0
