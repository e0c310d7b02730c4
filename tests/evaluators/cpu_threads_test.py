"""How evaluation work is spread over the cores: threads per op, parallel calls."""

import threading

import pytest

from dim_tf.evaluators import cpu


@pytest.mark.parametrize(
    "cores, per_op, calls", [(2, 1, 2), (2, 2, 1), (8, 2, 4), (1, 1, 1), (2, 4, 1)]
)
def test_parallel_calls_fill_the_cores(monkeypatch, cores, per_op, calls):
    monkeypatch.setattr(cpu, "cores", lambda: cores)
    monkeypatch.setattr(cpu, "threads_per_op", lambda: per_op)
    assert cpu.parallel_calls() == calls


def test_threads_per_op_reads_the_users_variable(monkeypatch):
    monkeypatch.setattr(
        cpu.tf.config.threading,
        "get_intra_op_parallelism_threads",
        lambda: 0,
    )
    monkeypatch.setattr(cpu, "cores", lambda: 6)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")
    assert cpu.threads_per_op() == 3
    # 0 is TensorFlow's default: one thread per core.
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "0")
    assert cpu.threads_per_op() == 6
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS")
    assert cpu.threads_per_op() == 6


def test_map_concurrently_runs_the_calls_at_once_and_keeps_their_order(monkeypatch):
    monkeypatch.setattr(cpu, "parallel_calls", lambda: 2)
    # Each call waits for another to arrive: one after another, they never would.
    meeting = threading.Barrier(2, timeout=30)

    def call(item):
        meeting.wait()
        return item * 10, threading.get_ident()

    results = cpu.map_concurrently(call, [1, 2, 3, 4])
    assert [value for value, _ in results] == [10, 20, 30, 40]
    assert threading.get_ident() not in {thread for _, thread in results}


def test_one_parallel_call_runs_in_the_calling_thread(monkeypatch):
    monkeypatch.setattr(cpu, "parallel_calls", lambda: 1)
    results = cpu.map_concurrently(lambda item: threading.get_ident(), [1, 2])
    assert results == [threading.get_ident()] * 2


@pytest.mark.parametrize(
    "cores, threads", [(2, 1), (4, 1), (7, 1), (8, 2), (16, 4), (64, 16)]
)
def test_share_cores_gives_each_op_a_share_beside_four_probes(
    monkeypatch, cores, threads
):
    calls = []
    monkeypatch.setattr(
        cpu.tf.config.threading,
        "set_intra_op_parallelism_threads",
        calls.append,
    )
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setattr(cpu, "cores", lambda: cores)
    assert cpu.share_cores(4) == threads
    assert calls == [threads]
    # Then as many calls at once as fill the cores: as many as the probes.
    monkeypatch.setattr(cpu, "threads_per_op", lambda: threads)
    assert cpu.parallel_calls() == cores // threads


def test_share_cores_leaves_a_users_setting_and_a_single_core(monkeypatch):
    calls = []
    monkeypatch.setattr(
        cpu.tf.config.threading,
        "set_intra_op_parallelism_threads",
        calls.append,
    )
    monkeypatch.setattr(cpu, "cores", lambda: 2)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "2")
    assert cpu.share_cores(4) is None
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS")
    monkeypatch.setattr(cpu, "cores", lambda: 1)
    assert cpu.share_cores(4) is None
    # One computation at a time: every core is its share, TensorFlow's default.
    monkeypatch.setattr(cpu, "cores", lambda: 2)
    assert cpu.share_cores(1) is None
    assert calls == []


def test_share_cores_once_tensorflow_has_started_changes_nothing(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setattr(cpu, "cores", lambda: 2)
    before = cpu.tf.config.threading.get_intra_op_parallelism_threads()
    cpu.tf.constant(1.0) + 1.0  # TensorFlow's threads are fixed from here.
    assert cpu.share_cores(4) is None
    assert cpu.tf.config.threading.get_intra_op_parallelism_threads() == before
