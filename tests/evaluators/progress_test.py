"""Progress lines of an evaluation: one per part, an ETA from the parts done, timings."""

from dim_tf.evaluators import base
from dim_tf.evaluators import progress as progress_lib
from dim_tf.evaluators.base import Result


class FakeClock:
    """Seconds that advance only when a test says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TimedEvaluator(base.Evaluator):
    """Yields one result per tap; each takes `seconds[i]` on the fake clock."""

    def __init__(self, clock, seconds, taps=("conv", "fc", "y"), source="trained"):
        super().__init__("linear", None, taps, source)
        self._clock, self._seconds = clock, seconds

    def run(self, step):
        del step
        prefix = "" if self.source == "trained" else "random/"
        for tap, seconds in zip(self.taps, self._seconds):
            self._clock.now += seconds
            yield Result(f"{prefix}probe/linear_{tap}", 0.5)


def test_a_line_per_part_with_the_eta_of_the_evaluators_remaining_parts():
    clock, lines = FakeClock(), []
    progress = progress_lib.Progress(lines.append, clock=clock)
    results = progress.run_all(None, [TimedEvaluator(clock, [4.0, 2.0, 3.0])], count=6)
    assert [r.name for r in results] == [
        f"probe/linear_{t}" for t in ("conv", "fc", "y")
    ]
    assert lines == [
        "linear (1/6): tap conv, 1/3",
        "linear (1/6): tap fc, 2/3 ... ETA 8 s",  # 4 s per part so far, 2 left
        "linear (1/6): tap y, 3/3 ... ETA 3 s",  # (4 + 2) / 2 s, 1 left
    ]
    assert progress.seconds == {
        "probe/linear_conv": 4.0,
        "probe/linear_fc": 2.0,
        "probe/linear_y": 3.0,
    }
    assert progress.evaluator_seconds == {"linear": 9.0}
    assert progress.values == dict.fromkeys(progress.seconds, 0.5)


def test_parts_run_side_by_side_are_said_so_and_get_no_eta():
    clock, lines = FakeClock(), []
    progress = progress_lib.Progress(lines.append, clock=clock)
    evaluator = TimedEvaluator(clock, [4.0, 0.0, 0.0])
    evaluator.background = True
    progress.run_all(None, [evaluator], count=2)
    assert lines == [
        "Starting linear in the background",
        "linear (1/2): tap conv, 1/3 (3 side by side)",
        "linear (1/2): tap fc, 2/3",
        "linear (1/2): tap y, 3/3",
    ]


class BackgroundEvaluator(TimedEvaluator):
    """A `TimedEvaluator` that can start: its start takes `start_seconds`."""

    background = True

    def __init__(self, clock, seconds, events, start_seconds=1.0, **kwargs):
        super().__init__(clock, seconds, **kwargs)
        self._events, self._start_seconds = events, start_seconds

    def start(self, step):
        self._events.append(f"start {self.name}")
        self._clock.now += self._start_seconds
        return self.run(step)


def test_evaluators_that_can_start_are_started_before_any_runs():
    clock, lines, events = FakeClock(), [], []
    first = BackgroundEvaluator(clock, [2.0], events, taps=("y",))
    plain = TimedEvaluator(clock, [3.0], taps=("fc",))
    plain.name = "knn"
    second = BackgroundEvaluator(clock, [0.5], events, taps=("conv",))
    second.name = "few_labels"
    progress = progress_lib.Progress(
        lambda line: lines.append(line) or events.append(line), clock=clock
    )
    results = progress.run_all(None, [first, plain, second])
    assert events == [
        "Starting linear, few_labels in the background",
        "start linear",
        "start few_labels",
        "linear (1/3): tap y, 1/1",
        "knn (2/3): tap fc, 1/1",
        "few_labels (3/3): tap conv, 1/1",
    ]
    assert [r.name for r in results] == [
        "probe/linear_y",
        "probe/linear_fc",
        "probe/linear_conv",
    ]
    # A started evaluator's seconds are its start and the waits for its results.
    assert progress.evaluator_seconds == {
        "linear": 3.0,
        "knn": 3.0,
        "few_labels": 1.5,
    }
    assert progress.seconds["start/few_labels"] == 1.0
    assert sum(progress.seconds.values()) == progress.total_seconds


def test_the_random_baseline_is_numbered_after_the_trained_encoders_evaluators():
    clock, lines = FakeClock(), []
    progress = progress_lib.Progress(lines.append, clock=clock)
    evaluator = TimedEvaluator(clock, [1.0], taps=("y",), source="random")
    progress.run_all(None, [evaluator], first=5, count=5)
    assert lines == ["random/linear (5/5): tap y, 1/1"]
    assert progress.evaluator_seconds == {"random/linear": 1.0}


def test_an_evaluator_that_cannot_count_its_parts_gets_one_line():
    clock, lines = FakeClock(), []

    class Measure(base.Evaluator):
        def run(self, step):
            clock.now += 2.0
            yield Result("mi/mine", 1.5)
            clock.now += 1.0
            yield Result("ndm", 0.5)

    progress = progress_lib.Progress(lines.append, clock=clock)
    progress.run_all(None, [Measure("mi", None)])
    assert lines == ["mi (1/1)"]
    assert progress.seconds == {"mi/mine": 2.0, "ndm": 1.0}


def test_parts_are_timed_in_wall_and_cpu_seconds_and_quiet_without_log():
    clock, cpu = FakeClock(), FakeClock()
    progress = progress_lib.Progress(clock=clock, cpu_clock=cpu)
    with progress.part("features/trained", "Features of the trained encoder"):
        clock.now += 10.0
        cpu.now += 18.0
    assert progress.seconds == {"features/trained": 10.0}
    assert progress.cpu_seconds == {"features/trained": 18.0}
    assert progress.total_seconds == 10.0


def test_a_feature_pass_reports_each_quarter_with_an_eta():
    clock, lines = FakeClock(), []
    on_batch = progress_lib.PassProgress(lines.append, "features/trained", 8, clock)
    for _ in range(8):
        clock.now += 1.5
        on_batch()
    assert lines == [
        "features/trained: 25% ... ETA 9 s",
        "features/trained: 50% ... ETA 6 s",
        "features/trained: 75% ... ETA 3 s",
    ]
    silent = progress_lib.PassProgress(lines.append, "features/random", 0, clock)
    silent()
    assert len(lines) == 3


def test_an_evaluator_expects_one_result_per_tap_unless_it_says_otherwise():
    assert TimedEvaluator(None, [], taps=("conv", "y")).num_results == 2
    assert TimedEvaluator(None, [], taps=()).num_results is None
