"""What a run reports: TensorBoard scalars and histograms, absl logs, a progress line."""

import sys
import time

import tensorflow as tf
from absl import logging


def format_metrics(metrics):
    """`{"mi/local": 1.23, ...}` -> "mi/local 1.230 ..." in a stable order."""
    return "  ".join(
        f"{name} {float(value):.4g}" for name, value in sorted(metrics.items())
    )


def format_duration(seconds):
    """Seconds -> "1h02m", "3m05s" or "12s"."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Reporter:
    """Writes a run's summaries (chief only) and shows its progress.

    TensorBoard events go to `DIR/train`. The progress line is redrawn in place
    on a terminal and printed as ordinary lines (at the logging rate) otherwise.
    """

    def __init__(self, logdir, total_steps, global_batch, enabled=True, stream=None):
        self.total_steps = total_steps
        self.global_batch = global_batch
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.writer = tf.summary.create_file_writer(logdir) if enabled else None
        self._live = enabled and self.stream.isatty()
        self._last_time = time.perf_counter()
        self._last_step = None

    def throughput(self, step):
        """Images per second since the previous call (None on the first)."""
        now = time.perf_counter()
        rate = None
        if self._last_step is not None and step > self._last_step:
            rate = (
                (step - self._last_step) * self.global_batch / (now - self._last_time)
            )
        self._last_time, self._last_step = now, step
        return rate

    def progress(self, step, metrics, images_per_s, log=False, budget_left=None):
        """Shows step, loss, MI estimates, images/s and ETA; logs when `log`.

        Args:
          step: steps done.
          metrics: name -> float, shown sorted.
          images_per_s: the recent rate, or None (no ETA shown).
          log: also log the line (and print it when not on a terminal).
          budget_left: seconds left of `train.max_minutes`, or None. The ETA
            is the sooner of the steps' end and the budget's.
        """
        if not self.enabled:
            return
        eta = ""
        if images_per_s:
            remaining = (self.total_steps - step) * self.global_batch / images_per_s
            until = ""
            if budget_left is not None and budget_left < remaining:
                remaining, until = budget_left, " (train.max_minutes)"
            eta = f"  {images_per_s:.0f} img/s  ETA {format_duration(remaining)}{until}"
        line = f"step {step}/{self.total_steps}  {format_metrics(metrics)}{eta}"
        if self._live:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
        if log:
            logging.info("%s", line)
            if not self._live:
                self.stream.write(line + "\n")
                self.stream.flush()

    def start(self, step, precision):
        """Says what this start computes in and why: a line, the log, TensorBoard text.

        Args:
          step: the step training starts (or resumes) from.
          precision: `dim_tf.training.precision.Resolved`.
        """
        if not self.enabled:
            return
        line = f"precision: {precision.policy} ({precision.reason})"
        logging.info("%s", line)
        self.stream.write(line + "\n")
        self.stream.flush()
        with self.writer.as_default(step=step):
            tf.summary.text("precision", line)

    def scalars(self, step, scalars):
        """Writes a dict of scalars to TensorBoard at `step`."""
        if not self.enabled:
            return
        with self.writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)

    def histograms(self, step, histograms):
        """Writes a dict of tensors as TensorBoard histograms at `step`."""
        if not self.enabled:
            return
        with self.writer.as_default(step=step):
            for name, value in histograms.items():
                tf.summary.histogram(name, value)

    def close(self):
        """Ends the live line and flushes the event file."""
        if self._live:
            self.stream.write("\n")
        if self.writer is not None:
            self.writer.flush()
