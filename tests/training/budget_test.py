"""TimeBudget: what is counted, and whose clock decides."""

import io

import tensorflow as tf

from dim_tf.training import budget, summaries


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_counts_training_time_but_not_paused_time(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(budget.time, "monotonic", clock)
    seconds = tf.Variable(30.0, dtype=tf.float64)  # Restored from a checkpoint.
    time_budget = budget.TimeBudget(seconds, max_minutes=1.0)
    strategy = tf.distribute.get_strategy()
    time_budget.start()
    clock.now += 20
    time_budget.count()
    assert float(seconds) == 50.0 and not time_budget.used_up(strategy)
    with time_budget.paused():  # E.g. an evaluation between calls.
        clock.now += 500
    clock.now += 10
    time_budget.count()
    assert float(seconds) == 60.0 and time_budget.used_up(strategy)
    assert time_budget.stop_message(40, 100).startswith(
        "stopped at step 40 after 1.00 minutes of training (train.max_minutes=1); "
    )


def test_only_the_chief_asks_to_stop_and_no_budget_never_does():
    strategy = tf.distribute.get_strategy()
    seconds = tf.Variable(600.0, dtype=tf.float64)
    assert budget.TimeBudget(seconds, 1.0, is_chief=True).used_up(strategy)
    assert not budget.TimeBudget(seconds, 1.0, is_chief=False).used_up(strategy)
    assert not budget.TimeBudget(seconds, None).used_up(strategy)


def test_the_eta_is_the_budgets_end_when_that_comes_first():
    seconds = tf.Variable(540.0, dtype=tf.float64)  # 9 of 10 minutes trained.
    assert budget.TimeBudget(seconds, 10.0).seconds_left() == 60.0
    assert budget.TimeBudget(seconds, None).seconds_left() is None
    stream = io.StringIO()
    reporter = summaries.Reporter("unused", 1000, 10, enabled=False, stream=stream)
    reporter.enabled = True  # Lines only: no event file.
    # 900 steps left at 100 images/s (10 per step) is 90 s; the budget ends sooner.
    reporter.progress(100, {}, 100.0, log=True, budget_left=60.0)
    reporter.progress(100, {}, 100.0, log=True, budget_left=None)
    reporter.progress(100, {}, 100.0, log=True, budget_left=120.0)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("100 img/s  ETA 1m00s (train.max_minutes)")
    assert lines[1].endswith("100 img/s  ETA 1m30s")
    assert lines[2].endswith("100 img/s  ETA 1m30s")
