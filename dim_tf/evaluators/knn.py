"""Evaluator `knn`: weighted k-nearest-neighbour classification on frozen features.

InstDisc's weighted vote (as DINO and solo-learn report it): each test
example's k most cosine-similar eval-train examples vote for their labels
with weight exp(similarity / T) (docs/protocol.md). Similarities are
computed in bounded blocks with a running top k, so memory does not grow
with queries x memory rows.

Rows (results.json `probes`, or `random_encoder/probes`): `{"tap", "kind":
"knn", "test_accuracy", "k", "temperature", "precision"}`; scalars
`probe/knn_{tap}`. No model to export.
"""

import numpy as np
import tensorflow as tf

from dim_tf.evaluators import base, cpu
from dim_tf.evaluators.base import Result
from dim_tf.evaluators.features import compiled

# Similarities per block: 2^25 float32 values are 128 MiB.
MAX_BLOCK = 2**25
# Memory rows are turned into tensors this many bytes at a time (one chunk
# in memory besides the features, not a copy of them all).
_MEMORY_CHUNK_BYTES = 2**26


def knn_predict(
    memory,
    memory_labels,
    queries,
    num_classes,
    k=200,
    temperature=0.1,
    max_block=MAX_BLOCK,
    memory_chunk=None,
    dtype="float32",
):
    """Weighted kNN class of each query, by cosine similarity.

    Args:
      memory: float `[M, D]` features of labeled examples.
      memory_labels: int `[M]` labels in [0, num_classes).
      queries: float `[Q, D]` features to classify.
      num_classes: K.
      k: neighbours per query (clipped to M).
      temperature: T in the vote weight exp(similarity / T).
      max_block, memory_chunk, dtype: as `top_k_similar`.

    Returns:
      int32 `[Q]` class ids (ties between classes go to the lower id).
    """
    similarities, rows = top_k_similar(
        memory, queries, k, max_block, memory_chunk, dtype
    )
    labels = np.asarray(memory_labels, np.int32)[rows]
    vote = _vote_fn(num_classes, temperature)
    return vote(tf.constant(similarities), tf.constant(labels)).numpy()


def top_k_similar(
    memory, queries, k, max_block=MAX_BLOCK, memory_chunk=None, dtype="float32"
):
    """The `k` rows of `memory` most cosine-similar to each query, in bounded blocks.

    Memory is read a chunk at a time (a NumPy memory map stays on disk but
    for one chunk) and merged into a running top k per query, so memory use
    does not grow with queries x memory rows.

    Args:
      memory: float `[M, D]`.
      queries: float `[Q, D]`.
      k: rows per query (clipped to M).
      max_block: the most similarities in one `[q, m]` block.
      memory_chunk: memory rows per block (None: as many as fit 64 MiB; >= k).
      dtype: "float32" or "bfloat16": the products' inputs (bfloat16: the
        normalised features rounded, similarities within about 1e-3).

    Returns:
      `(similarities float32 [Q, k], rows int32 [Q, k])`, most similar first,
      ties in row order.
    """
    if not isinstance(memory, np.ndarray):
        memory = np.asarray(memory, np.float32)
    num_memory, dim = memory.shape
    k = min(k, num_memory)
    memory_chunk = memory_chunk or _MEMORY_CHUNK_BYTES // (4 * dim)
    memory_chunk = max(k, min(memory_chunk, num_memory))
    nearest = _nearest_fn(dim, k, dtype)
    queries = np.asarray(queries, np.float32)
    # A multiple of the parallel calls of query blocks: every round busy.
    calls = cpu.parallel_calls()
    per_block = max(1, max_block // memory_chunk)
    block_count = calls * -(-len(queries) // (calls * per_block))
    query_chunk = max(1, -(-len(queries) // max(1, block_count)))
    # Normalised (and rounded) once here, not again against every memory chunk.
    blocks = [
        tf.cast(
            tf.math.l2_normalize(
                tf.constant(queries[start : start + query_chunk]), axis=1
            ),
            dtype,
        )
        for start in range(0, len(queries), query_chunk)
    ]
    # Per query block: similarities and rows of the k nearest so far.
    best = [
        (tf.fill([len(block), k], -np.inf), tf.zeros([len(block), k], tf.int32))
        for block in blocks
    ]
    for start in range(0, num_memory, memory_chunk):
        rows = np.asarray(memory[start : start + memory_chunk], np.float32)
        # Similarities divided by the chunk's norms: no normalised copy of memory.
        inverse_norms = 1.0 / np.maximum(np.linalg.norm(rows, axis=1), 1e-12)
        chunk = (
            tf.constant(rows),
            tf.constant(inverse_norms),
            tf.range(start, start + len(rows), dtype=tf.int32),
        )
        if dtype != "float32":
            # Normalised before rounding: bfloat16 keeps 8 bits of each value.
            chunk = (tf.cast(chunk[0] * chunk[1][:, None], dtype), *chunk[1:])

        def update(best_and_block, chunk=chunk):
            (best_similarities, best_rows), block = best_and_block
            return nearest(best_similarities, best_rows, block, *chunk)

        best = cpu.map_concurrently(update, zip(best, blocks))
    similarities = [np.zeros([0, k], np.float32)] + [s.numpy() for s, _ in best]
    rows = [np.zeros([0, k], np.int32)] + [r.numpy() for _, r in best]
    return np.concatenate(similarities), np.concatenate(rows)


def _nearest_fn(dim, k, dtype="float32"):
    """Graph function merging one block's nearest rows into the best so far.

    `(best_similarities [q, k], best_rows [q, k], queries [q, D] (L2
    normalised), memory [m, D], inverse_norms [m], rows [m])` -> the k most
    similar of the k + m candidates: `(similarities [q, k], rows [q, k])`,
    most similar first. Queries and memory in `dtype` (a bfloat16 memory
    comes normalised), similarities float32.
    """

    def nearest(best_similarities, best_rows, queries, memory, inverse_norms, rows):
        products = tf.matmul(queries, memory, transpose_b=True)
        similarities = tf.cast(products, tf.float32)
        if dtype == "float32":
            similarities *= inverse_norms
        top = tf.minimum(k, tf.shape(memory)[0])
        similarities, found = tf.math.top_k(similarities, top)
        similarities = tf.concat([best_similarities, similarities], axis=1)
        rows = tf.concat([best_rows, tf.gather(rows, found)], axis=1)
        similarities, keep = tf.math.top_k(similarities, k)
        return similarities, tf.gather(rows, keep, batch_dims=1)

    return compiled(
        nearest,
        tf.TensorSpec([None, k], tf.float32),
        tf.TensorSpec([None, k], tf.int32),
        tf.TensorSpec([None, dim], dtype),
        tf.TensorSpec([None, dim], dtype),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None], tf.int32),
    )


def _vote_fn(num_classes, temperature):
    """Graph function: `(similarities [q, k], labels [q, k])` -> classes `[q]`."""

    def vote(similarities, labels):
        # exp((s - s_max) / T): the same argmax as exp(s / T), never overflowing.
        weights = tf.exp((similarities - similarities[:, :1]) / temperature)
        queries = tf.shape(labels)[0]
        # Per-(query, class) sums of the weights, without a [q, k, K] one-hot.
        cells = labels + num_classes * tf.range(queries)[:, None]
        votes = tf.math.unsorted_segment_sum(
            tf.reshape(weights, [-1]), tf.reshape(cells, [-1]), queries * num_classes
        )
        votes = tf.reshape(votes, [queries, num_classes])
        return tf.argmax(votes, axis=1, output_type=tf.int32)

    return compiled(
        vote,
        tf.TensorSpec([None, None], tf.float32),
        tf.TensorSpec([None, None], tf.int32),
    )


class Evaluator(base.Evaluator):
    """kNN classification on each tap (`eval.knn.k`, `knn.temperature`, `knn.precision`)."""

    def run(self, step):
        train, test = step.features.get(self.source)
        k, temperature = self.eval_config.knn.k, self.eval_config.knn.temperature
        dtype = cpu.compute_dtype(self.eval_config.knn.precision)
        if self.source == "trained":
            step.log(f"kNN (k={k}, T={temperature}, {dtype}) x {', '.join(self.taps)}")
        for tap in self.taps:
            predicted = knn_predict(
                train.taps[tap],
                train.labels,
                test.taps[tap],
                step.num_classes,
                k,
                temperature,
                dtype=dtype,
            )
            accuracy = float(np.mean(predicted == test.labels))
            row = {
                "tap": tap,
                "kind": "knn",
                "test_accuracy": accuracy,
                "k": min(k, len(train.labels)),
                "temperature": temperature,
                "precision": dtype,
            }
            yield Result(
                self.tag(f"probe/knn_{tap}"), accuracy, self.section("probes"), row
            )
