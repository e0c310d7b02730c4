"""Work on a large `[N, D]` feature matrix a few MB of rows at a time.

Why not all at once: an elementwise op on the whole matrix allocates a
temporary as large as it (1.25 GB for 50,000 x 6,272 conv features), and a
fresh allocation of that size is mapped page by page as it is first
written, which costs more than the arithmetic (docs/benchmarks.md).
Temporaries up to `CHUNK_BYTES` are served again and again
from memory the allocator keeps (glibc's malloc keeps freed blocks below its
mmap threshold, at most 32 MB), so only the result is mapped once.
"""

import tensorflow as tf

# Bytes of float32 rows per chunk: below glibc's largest mmap threshold.
CHUNK_BYTES = 2**24


def rows_per_chunk(dim, chunk_bytes=CHUNK_BYTES):
    """How many float32 rows of `dim` values fit `chunk_bytes` (at least 1)."""
    return max(1, chunk_bytes // (4 * max(1, dim)))


def map_rows(fn, inputs, chunk_bytes=CHUNK_BYTES):
    """`fn(inputs)` for a row-wise `fn`, computed chunk by chunk.

    Args:
      fn: maps float32 `[n, D]` to `[n, ...]`, each row independently
        (e.g. a `keras.layers.Normalization`).
      inputs: float32 `[N, D]` tensor or NumPy array (then each chunk is
        converted on its own).
      chunk_bytes: bytes of rows per chunk.

    Returns:
      The chunks' results concatenated: `[N, ...]`.
    """
    count, dim = int(inputs.shape[0]), int(inputs.shape[1])
    rows = rows_per_chunk(dim, chunk_bytes)
    return tf.concat([fn(inputs[i : i + rows]) for i in range(0, count, rows)], 0)


def column_moments(inputs, chunk_bytes=CHUNK_BYTES):
    """Mean and (population) variance of each column, as `tf.nn.moments(inputs, [0])`.

    Two passes over chunks of rows: the column sums, then the sums of
    squared deviations from the mean (no `[N, D]` temporary).

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
