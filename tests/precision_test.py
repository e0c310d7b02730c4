"""`auto` precision: bfloat16 only where this CPU computes it faster."""

import pytest

from dim_tf.evaluators import precision


@pytest.mark.parametrize("speedup, expected", [(1.8, "bfloat16"), (0.5, "float32")])
def test_auto_takes_bfloat16_only_where_it_is_faster(monkeypatch, speedup, expected):
    monkeypatch.setattr(precision, "bfloat16_speedup", lambda: speedup)
    assert precision.compute_dtype("auto") == expected
    assert precision.compute_dtype("float32") == "float32"
    assert precision.compute_dtype("bfloat16") == "bfloat16"


def test_the_speedup_is_a_measured_ratio():
    speedup = precision.bfloat16_speedup()
    assert speedup > 0
    assert precision.bfloat16_speedup() is speedup  # Measured once.
