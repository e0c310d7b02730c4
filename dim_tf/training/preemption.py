"""Stopping cleanly on SIGTERM (preemption) or SIGINT (Ctrl-C).

The handler only records the signal; the loop checks between `tf.function`
calls, saves and raises `Interrupted`, every worker after the same step. A
second SIGINT raises `KeyboardInterrupt` at once. Not TensorFlow 2.21's
`PreemptionCheckpointHandler`: it restores without `checkpoints`' fallbacks,
adds a variable old checkpoints lack and exits the process itself.
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

    One all-reduce under MultiWorkerMirroredStrategy, else `flag` itself.

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
