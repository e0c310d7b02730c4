"""A run's training-time budget (`train.max_minutes`), counted across resumes.

Seconds trained live in the checkpointed `train_seconds` variable, so the count
goes on across resumes (docs/usage.md says what is counted). Under
multi-worker training only the chief's clock can ask for the stop.
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

        Called once per `tf.function` call, before its checkpoint, so a
        checkpoint holds the value the stop was decided on.
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
