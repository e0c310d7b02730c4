"""What the entry points print as they go: progress lines, counted progress
with its rate and ETA, and where a training run's outputs are."""

import sys
import time

# Progress lines count from the entry point's start (`dim_tf.cli`'s import).
_START = time.monotonic()


def progress(line, stream=None):
    """Prints a progress line on stderr, with the seconds since the start."""
    print(
        f"[{time.monotonic() - _START:5.0f}s] {line}",
        file=stream or sys.stderr,
        flush=True,
    )


def announced(what, open_fn):
    """`open_fn` wrapped to print the progress line "Loading WHAT" first."""

    def opened():
        progress(f"Loading {what}")
        return open_fn()

    return opened


class CountProgress:
    """A progress line for work counted in items: done/total, items/s, ETA.

    Call it with `(done, total)` as the work goes on, and `finish()` at the
    end. On a terminal the line is redrawn in place; otherwise it is printed
    with `progress` every `every` seconds. The rate counts from the first
    call, so loading a model before it is not part of it.
    """

    def __init__(self, noun="images", every=10.0, stream=None):
        self.noun = noun
        self.every = every
        self.stream = stream or sys.stderr
        self._live = self.stream.isatty()
        self._first = None  # (time, done) of the first call.
        self._shown = None  # Time the line was last shown.
        self._line = None
        self._pending = False  # A state newer than the line shown.
        self.rate = None  # Items per second from the first call to the last.

    def __call__(self, done, total):
        now = time.monotonic()
        if self._first is None:
            self._first = (now, done)
        start, start_done = self._first
        if now > start and done > start_done:
            self.rate = (done - start_done) / (now - start)
        rate, eta = self.rate, ""
        if rate:
            from dim_tf.training.summaries import format_duration

            remaining = format_duration((total - done) / rate)
            eta = f", {rate:,.0f} {self.noun}/s, ETA {remaining}"
        self._line = f"{done:,}/{total:,} {self.noun}{eta}"
        interval = 0.2 if self._live else self.every
        if self._shown is None or now - self._shown >= interval:
            self._show()
            self._shown = now
        else:
            self._pending = True

    def _show(self):
        self._pending = False
        if self._live:
            self.stream.write("\r\033[K" + self._line)
            self.stream.flush()
        else:
            progress(self._line, self.stream)

    def finish(self):
        """Shows the last state if it was not shown yet; ends the live line."""
        if self._pending:
            self._show()
        if self._live and self._line is not None:
            self.stream.write("\n")
            self.stream.flush()


def describe_training_outputs(result):
    """A few lines telling the user where the run's outputs are (and why it
    stopped, when the time budget ended it early)."""
    return "\n".join(
        ([result.stopped_early] if result.stopped_early else [])
        + [
            f"Trained to step {result.step}. Outputs in {result.workdir}:",
            f"  config      {result.workdir}/config.json",
            f"  checkpoint  {result.checkpoint}",
            f"  TensorBoard tensorboard --logdir {result.workdir}",
        ]
    )
