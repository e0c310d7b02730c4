"""A run's training-time budget (`train.max_minutes`), counted across resumes.

The seconds of training done so far live in the trainer's `train_seconds`
variable, which every checkpoint holds, so a resumed run continues the count:
rerunning a run that used up its budget trains no step, and a larger
`train.max_minutes` trains on. Counted is the training loop's own time (the
`tf.function` calls, summaries and checkpoints), not start-up (building,
restoring, reading the dataset's metadata) and not the evaluation actions
that run between calls (`eval.every`).

Under multi-worker training the chief's clock decides: only its flag can ask
for the stop, and the flags are summed over the workers
(`dim_tf.training.preemption.any_worker`), so all stop after the same step.
"""

import contextlib
import time

from dim_tf.training import preemption


class TimeBudget:
    """Counts training seconds into a variable and says when the budget is used.

    Args:
      seconds: the run's float64 `train_seconds` variable (restored first).
      max_minutes: `train.max_minutes`, or None for no budget.
      is_chief: whether this worker's clock decides.
    """

    def __init__(self, seconds, max_minutes, is_chief=True):
        self.seconds = seconds
        self.max_minutes = max_minutes
        self.is_chief = is_chief
        self._mark = None

    @property
    def minutes(self):
        """Minutes of training counted so far (this run and the ones it resumes)."""
        return float(self.seconds.numpy()) / 60.0

    def start(self):
        """Starts counting from now."""
        self._mark = time.monotonic()

    def count(self):
        """Adds the time since the last `start` / `count` to the variable.

        The loop calls it once per `tf.function` call, before that step's
        checkpoint: the variable then changes only here, so the value a
        checkpoint holds is the one the stop was decided on, and a rerun
        with the same budget decides the same.
        """
        now = time.monotonic()
        self.seconds.assign_add(now - self._mark)
        self._mark = now

    @contextlib.contextmanager
    def paused(self):
        """Time spent inside the `with` block is not counted."""
        start = time.monotonic()
        try:
            yield
        finally:
            self._mark += time.monotonic() - start

    def seconds_left(self):
        """Seconds of the budget not yet trained (None without a budget)."""
        if self.max_minutes is None:
            return None
        return max(self.max_minutes * 60.0 - float(self.seconds.numpy()), 0.0)

    def used_up(self, strategy):
        """Whether the chief has trained for `max_minutes` (every worker must call this)."""
        if self.max_minutes is None:
            return False
        return preemption.any_worker(
            strategy, self.is_chief and self.minutes >= self.max_minutes
        )

    def stop_message(self, step, total_steps):
        """The line a run that stopped for its budget at `step` prints."""
        return (
            f"stopped at step {step} after {self.minutes:.2f} minutes of training "
            f"(train.max_minutes={self.max_minutes:g}); rerun with a larger "
            f"train.max_minutes, or without it, to continue to step {total_steps}"
        )
