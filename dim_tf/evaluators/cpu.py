"""How an evaluation spreads its work over the CPU's cores.

Most of an evaluation's CPU time goes to small operations: the frozen
probes' steps (a batch of 64 rows of 6,272 conv features times a
6,272 x 10 matrix, 15,640 steps per probe). Split over TensorFlow's
intra-op threads, such an operation costs more CPU in hand-offs between
the threads than the split saves (docs/benchmarks.md), and the probes already run side by side, `frozen.ProbePool`'s
four at a time. So the evaluation entry points give each operation only
its share of the cores, cores / 4 threads (at least one: one thread per
operation on a CPU of up to 7 cores; `share_cores`), and the
large computations that run in the foreground, the encoder's feature pass
and kNN's products, split their work into `parallel_calls()` concurrent
calls instead (`map_concurrently`). In a process that keeps TensorFlow's
default (training's `eval.every` evaluation, a program calling the
library) `parallel_calls()` is 1 and nothing is split.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import tensorflow as tf

# TensorFlow reads this variable once, when it starts; a user's value wins.
_INTRA_OP_VARIABLE = "TF_NUM_INTRAOP_THREADS"


def cores():
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def share_cores(concurrent_work):
    """Gives each TensorFlow operation its share of the cores, for this process.

    Each operation runs on cores / `concurrent_work` threads (at least one),
    as many as keep the cores busy when `concurrent_work` computations run
    side by side. Call it before TensorFlow runs its first operation;
    afterwards TensorFlow's threads are fixed and it does nothing. Nor when
    `TF_NUM_INTRAOP_THREADS` is set (the user's choice) or the share is
    every core (TensorFlow's default).

    Args:
      concurrent_work: how many computations usually run at once.

    Returns:
      The threads per operation set, or None when nothing was set.
    """
    threads = max(1, cores() // max(1, concurrent_work))
    if os.environ.get(_INTRA_OP_VARIABLE) or threads >= cores():
        return None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow has started: its threads stay.
        return None
    return threads


def threads_per_op():
    """How many threads TensorFlow splits one operation over in this process."""
    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured:
        return configured
    from_environment = os.environ.get(_INTRA_OP_VARIABLE, "")
    # Unset, not a count, or 0 (TensorFlow's "choose for me"): one per core.
    if from_environment.isdigit() and int(from_environment) > 0:
        return int(from_environment)
    return cores()


def parallel_calls():
    """How many concurrent calls keep the cores busy: cores / threads per op (>= 1)."""
    return max(1, cores() // max(1, threads_per_op()))


def map_concurrently(fn, items):
    """`[fn(item) for item in items]`, up to `parallel_calls()` calls at a time.

    TensorFlow releases the interpreter while it computes, so calls of graph
    functions in threads run in parallel. With one parallel call (or one
    item) they run one after another in this thread.

    Args:
      fn: a callable of one item, safe to call from several threads at once
        (e.g. a graph function).
      items: an iterable of its arguments.

    Returns:
      The list of results, in the order of `items`.
    """
    items = list(items)
    workers = min(parallel_calls(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))
