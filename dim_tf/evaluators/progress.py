"""Progress lines and timings of an evaluation: one line per part, with an ETA.

The parts: the run's loading, a feature pass per encoder, each `Result` an
evaluator yields, the TensorBoard views, the saving. E.g.

    linear (1/6): tap fc, 2/3 ... ETA 4 s

The ETA is the evaluator's seconds per part so far times its parts left
(`num_results`); a `background` evaluator's parts finish close together, so
its first line says how many run side by side instead. With `log=None`
nothing is printed; the timings are kept all the same (`bin/benchmark
--workdir=DIR` prints them).
"""

import contextlib
import time


class Progress:
    """Times the parts of one evaluation and reports them through `log`.

    Args:
      log: callable taking a progress line, or None (quiet).
      clock: seconds, monotonic (tests pass a fake one).
      cpu_clock: this process's CPU seconds (e.g.
        `dim_tf.tools.machine.process_cpu_seconds`), or None to keep no CPU
        times.

    Attributes:
      seconds: part name -> seconds, in order: "load", "features/SOURCE",
        "views", "save", "start/LABEL" of a background evaluator, and each
        `Result`'s name (the wait for it).
      cpu_seconds: part name -> CPU seconds of this process (all threads).
      evaluator_seconds: "NAME" (or "random/NAME") -> seconds of its parts.
      values: `Result` name -> value, in order.
    """

    def __init__(self, log=None, clock=time.monotonic, cpu_clock=None):
        self.log = log or (lambda line: None)
        self._clock, self._cpu_clock = clock, cpu_clock or (lambda: 0.0)
        self._start = clock()
        self.seconds = {}
        self.cpu_seconds = {}
        self.evaluator_seconds = {}
        self.values = {}

    @property
    def total_seconds(self):
        """Seconds since this `Progress` was made."""
        return self._clock() - self._start

    @contextlib.contextmanager
    def part(self, name, line=None):
        """Times the `with` body as part `name`, after logging `line` (if any)."""
        if line is not None:
            self.log(line)
        start, cpu_start = self._clock(), self._cpu_clock()
        yield
        self.seconds[name] = self._clock() - start
        self.cpu_seconds[name] = self._cpu_clock() - cpu_start

    def run_all(self, step, evaluators, first=1, count=None):
        """The `Result`s of `evaluators` on `step`, in order, each timed.

        `background` evaluators are started first, so their work goes on
        while the others run; a started one's seconds are its start plus
        the waits for its results.

        Args:
          step: `dim_tf.evaluators.evaluation.Step`.
          evaluators: `base.Evaluator`s.
          first: the number of the first in the evaluation's count.
          count: evaluators in the whole evaluation (None = len(evaluators)).
        """
        count = count or len(evaluators)
        started = self._start_background(step, evaluators)
        results = []
        for number, evaluator in enumerate(evaluators, start=first):
            outputs = started.get(id(evaluator)) or evaluator.run(step)
            results += self._run(evaluator, outputs, f"({number}/{count})")
        return results

    def _start_background(self, step, evaluators):
        """Starts the `background` evaluators: `{id(evaluator): outputs}`."""
        background = [e for e in evaluators if e.background]
        if not background:
            return {}
        self.log(
            f"Starting {', '.join(_label(e) for e in background)} in the background"
        )
        started = {}
        for evaluator in background:
            label = _label(evaluator)
            with self.part(f"start/{label}"):
                started[id(evaluator)] = evaluator.start(step)
            self.evaluator_seconds[label] = (
                self.evaluator_seconds.get(label, 0.0) + self.seconds[f"start/{label}"]
            )
        return started

    def _run(self, evaluator, outputs, position):
        label = _label(evaluator)
        parts, taps = evaluator.num_results, evaluator.taps
        results, spent = [], 0.0
        while True:
            done = len(results)
            if not done or (parts is not None and done < parts):
                self.log(
                    _line(
                        label, position, done, parts, taps, spent, evaluator.background
                    )
                )
            start, cpu_start = self._clock(), self._cpu_clock()
            try:
                result = next(outputs)
            except StopIteration:
                break
            finally:
                seconds = self._clock() - start
                spent += seconds
            self.seconds[result.name] = seconds
            self.cpu_seconds[result.name] = self._cpu_clock() - cpu_start
            self.values[result.name] = result.value
            results.append(result)
        self.evaluator_seconds[label] = self.evaluator_seconds.get(label, 0.0) + spent
        return results


def _line(label, position, done, parts, taps, spent, side_by_side=False):
    """E.g. "linear (1/6): tap fc, 2/3 ... ETA 4 s" (no ETA before a part is done)."""
    if not parts:
        return f"{label} {position}"
    tap = f"tap {taps[done]}, " if parts == len(taps) else ""
    if side_by_side:
        eta = f" ({parts} side by side)" if not done and parts > 1 else ""
    else:
        eta = f" ... ETA {spent / done * (parts - done):.0f} s" if done else ""
    return f"{label} {position}: {tap}{done + 1}/{parts}{eta}"


def _label(evaluator):
    """E.g. "linear", or "random/linear" for the random encoder's."""
    name = evaluator.name
    return name if evaluator.source == "trained" else f"random/{name}"


class PassProgress:
    """Lines at each quarter of a feature pass over `batches` batches, with an ETA.

    Args:
      log: callable taking a progress line.
      label: what the pass is, e.g. "features/trained".
      batches: batches of the whole pass, or None when unknown (then silent).
      clock: seconds, monotonic.
    """

    def __init__(self, log, label, batches, clock=time.monotonic):
        self._log, self._label, self._batches = log, label, batches
        self._clock, self._start = clock, clock()
        self._done, self._quarter = 0, 0

    def __call__(self):
        """Counts one batch done."""
        self._done += 1
        if not self._batches or self._done >= self._batches:
            return
        quarter = 4 * self._done // self._batches
        if quarter > self._quarter:
            self._quarter = quarter
            elapsed = self._clock() - self._start
            eta = elapsed / self._done * (self._batches - self._done)
            self._log(f"{self._label}: {25 * quarter}% ... ETA {eta:.0f} s")
