"""How an evaluation uses the CPU: threads per operation, precision, row chunks.

Small operations (probe steps) cost more in hand-offs between intra-op
threads than they save, so the entry points give each operation its share
of the cores (`share_cores`) and large computations split into concurrent
calls instead (`map_concurrently`). Costs: docs/benchmarks.md.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import tensorflow as tf

from dim_tf.tools import machine

# TensorFlow reads this variable once, when it starts; a user's value wins.
_INTRA_OP_VARIABLE = "TF_NUM_INTRAOP_THREADS"
# Below glibc's largest mmap threshold: temporaries reuse kept memory.
CHUNK_BYTES = 2**24


def cores():
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def share_cores(concurrent_work):
    """Gives each TensorFlow operation cores / `concurrent_work` threads (>= 1).

    Nothing once TensorFlow has started, under `TF_NUM_INTRAOP_THREADS` or
    when the share is every core.

    Returns:
      The threads per operation set, or None.
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
    """`[fn(item) for item in items]`, up to `parallel_calls()` calls at a time in threads.

    `fn` must be thread-safe (e.g. a graph function: TensorFlow releases the
    interpreter while it computes).
    """
    items = list(items)
    workers = min(parallel_calls(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def compute_dtype(precision):
    """The dtype ("float32" or "bfloat16") of a precision setting on this machine.

    `auto` is bfloat16 where the device multiplies it natively
    (`machine.bfloat16_units`: a CPU with bfloat16 units, a GPU from compute
    capability 8.0, a TPU).

    Args:
      precision: "float32", "bfloat16" or "auto".
    """
    if precision == "auto":
        return "bfloat16" if machine.bfloat16_units().native else "float32"
    return precision


def auto_precisions(eval_config, kinds):
    """What the `auto` precisions of `knn` / `mlp` among `kinds` choose here, and why.

    Returns:
      e.g. "eval.knn.precision=auto -> bfloat16 (this CPU multiplies bfloat16
      1.9x as fast as float32)", or "" when none of them runs at `auto`.
      (An `auto` mlp keeps taps narrower than `probes.frozen`'s
      `AUTO_BFLOAT16_MIN_DIM` in float32.)
    """
    chosen = [
        f"eval.{kind}.precision=auto -> {compute_dtype('auto')}"
        for kind in _auto_kinds(eval_config, kinds)
    ]
    if not chosen:
        return ""
    return f"{', '.join(chosen)} ({machine.bfloat16_units().reason})"


def measure_if_auto(eval_config, kinds):
    """Detects `machine.bfloat16_units` now if `knn` or `mlp` of `kinds` runs at `auto`."""
    if _auto_kinds(eval_config, kinds):
        machine.bfloat16_units()


def _auto_kinds(eval_config, kinds):
    """Which of `knn`, `mlp` are among `kinds` with their precision at `auto`."""
    settings = {"knn": eval_config.knn.precision, "mlp": eval_config.mlp.precision}
    return [
        kind
        for kind, setting in settings.items()
        if kind in kinds and setting == "auto"
    ]


def rows_per_chunk(dim, chunk_bytes=CHUNK_BYTES):
    """How many float32 rows of `dim` values fit `chunk_bytes` (at least 1)."""
    return max(1, chunk_bytes // (4 * max(1, dim)))


def map_rows(fn, inputs, chunk_bytes=CHUNK_BYTES):
    """`fn(inputs)` for a row-wise `fn`, chunk by chunk (no temporary as large as `inputs`).

    Args:
      fn: maps float32 `[n, D]` to `[n, ...]`, each row independently.
      inputs: float32 `[N, D]` tensor or NumPy array (each chunk converted
        on its own).
      chunk_bytes: bytes of rows per chunk.

    Returns:
      `[N, ...]`: the chunks' results concatenated.
    """
    count, dim = int(inputs.shape[0]), int(inputs.shape[1])
    rows = rows_per_chunk(dim, chunk_bytes)
    return tf.concat([fn(inputs[i : i + rows]) for i in range(0, count, rows)], 0)


def column_moments(inputs, chunk_bytes=CHUNK_BYTES):
    """Mean and population variance of each column, chunk by chunk (two passes).

    Args:
      inputs: float32 `[N, D]` tensor or NumPy array, N >= 1.
      chunk_bytes: bytes of rows per chunk.

    Returns:
      `(mean [D], variance [D])` float32 tensors.
    """
    count, dim = int(inputs.shape[0]), int(inputs.shape[1])
    rows = rows_per_chunk(dim, chunk_bytes)
    starts = range(0, count, rows)
    mean = tf.add_n([tf.reduce_sum(inputs[i : i + rows], 0) for i in starts]) / count
    squares = tf.add_n(
        [
            tf.reduce_sum(tf.math.squared_difference(inputs[i : i + rows], mean), 0)
            for i in starts
        ]
    )
    return mean, squares / count
