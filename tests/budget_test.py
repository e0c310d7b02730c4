"""TimeBudget: what is counted, and whose clock decides."""

import tensorflow as tf

from dim_tf.training import budget


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
