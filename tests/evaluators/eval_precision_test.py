"""`auto` precision: bfloat16 only where the device has bfloat16 units."""

import types

import pytest

from dim_tf.evaluators import cpu
from dim_tf.tools import machine


@pytest.mark.parametrize("speedup, expected", [(1.8, "bfloat16"), (0.5, "float32")])
def test_auto_takes_bfloat16_only_where_it_is_faster(monkeypatch, speedup, expected):
    monkeypatch.setattr(machine, "bfloat16_speedup", lambda: speedup)
    assert cpu.compute_dtype("auto") == expected
    assert cpu.compute_dtype("float32") == "float32"
    assert cpu.compute_dtype("bfloat16") == "bfloat16"


def test_the_speedup_is_a_measured_ratio():
    speedup = machine.bfloat16_speedup()
    assert speedup > 0
    assert machine.bfloat16_speedup() is speedup  # Measured once.


@pytest.mark.parametrize(
    "knn, mlp, kinds, measured",
    [
        ("auto", "float32", {"knn", "linear"}, True),
        ("float32", "auto", {"mlp"}, True),
        ("float32", "bfloat16", {"knn", "mlp"}, False),
        # An auto precision of an evaluator that does not run.
        ("auto", "auto", {"linear", "svm"}, False),
        ("auto", "float32", {"mlp"}, False),
    ],
)
def test_an_auto_precision_is_measured_up_front(monkeypatch, knn, mlp, kinds, measured):
    calls = []
    monkeypatch.setattr(machine, "bfloat16_units", lambda: calls.append(1))
    config = types.SimpleNamespace(
        knn=types.SimpleNamespace(precision=knn),
        mlp=types.SimpleNamespace(precision=mlp),
    )
    cpu.measure_if_auto(config, kinds)
    assert calls == ([1] if measured else [])


def test_the_speedup_takes_each_dtypes_best_of_interleaved_rounds(monkeypatch):
    rates = {"float32": iter([100.0, 200.0, 150.0]), "bfloat16": iter([50, 390, 380])}
    calls = []

    def measured(dtype, **kwargs):
        calls.append(dtype)
        return next(rates[dtype])

    monkeypatch.setattr(machine, "matmul_gflops", measured)
    machine.bfloat16_speedup.cache_clear()
    try:
        # One round of each slowed by other work does not decide it.
        assert machine.bfloat16_speedup() == pytest.approx(390 / 200)
    finally:
        machine.bfloat16_speedup.cache_clear()
    assert calls == ["float32", "bfloat16"] * 3


def test_measuring_again_traces_nothing_new():
    # A new graph function per measurement was traced every time, and after
    # five traces TensorFlow printed a warning in bin/evaluate's output.
    for dtype in ("float32", "bfloat16", "float32"):
        assert machine.matmul_gflops(dtype, size=64, repeats=1, min_seconds=0.001) > 0
    traced = machine._products.experimental_get_tracing_count()
    for dtype in ("float32", "bfloat16"):
        machine.matmul_gflops(dtype, size=64, repeats=1, min_seconds=0.001)
    assert machine._products.experimental_get_tracing_count() == traced
