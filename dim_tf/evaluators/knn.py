"""Evaluator `knn`: weighted k-nearest-neighbour classification on frozen features.

The self-supervised community's standard monitor (InstDisc, DINO,
solo-learn): features of each tap are L2-normalised, every test example
(query) finds its k most cosine-similar training examples (the memory), and
each neighbour votes for its label with weight exp(similarity / T); the
class with the largest summed vote wins. Nothing is trained, so it is cheap
and free of probe hyper-parameters (`eval.knn_k`, default 200, clipped to
the memory's size; `eval.knn_temperature`, default 0.1).

Memory = features of `data.eval_train_split` (at most
`eval.max_train_examples`), queries = features of `data.eval_split`. The
similarities are computed block by block, at most `max_block` of them at a
time (a `[queries, memory rows]` block), keeping a running top k per query,
so memory use does not grow with the product of the two sizes.

Rows (results.json `probes`, or `random_encoder/probes` for the baseline):
`{"tap", "kind": "knn", "test_accuracy", "k", "temperature"}`; scalars
`probe/knn_{tap}` (`random/probe/knn_{tap}`). There is no model to export.
"""

import numpy as np
import tensorflow as tf

from dim_tf.evaluators.features import Need, compiled
from dim_tf.evaluators.results import Result

# Similarities per block: 2^25 float32 values are 128 MB.
MAX_BLOCK = 2**25
_MAX_MEMORY_CHUNK = 2**16  # Memory rows per block, at most.


def knn_predict(
    memory,
    memory_labels,
    queries,
    num_classes,
    k=200,
    temperature=0.1,
    max_block=MAX_BLOCK,
    memory_chunk=None,
):
    """Weighted kNN class of each query, by cosine similarity.

    Args:
      memory: float `[M, D]` features of labeled examples.
      memory_labels: int `[M]` labels in [0, num_classes).
      queries: float `[Q, D]` features to classify.
      num_classes: K.
      k: neighbours per query (clipped to M).
      temperature: T in the vote weight exp(similarity / T).
      max_block: similarities computed at once (a `[q, m]` block).
      memory_chunk: memory rows per block (None: all of them, up to 65,536).

    Returns:
      int32 `[Q]` class ids (ties between classes go to the lower id).
    """
    memory = np.asarray(memory, np.float32)
    num_memory, dim = memory.shape
    k = min(k, num_memory)
    memory_chunk = max(k, min(memory_chunk or _MAX_MEMORY_CHUNK, num_memory))
    query_chunk = max(1, max_block // memory_chunk)
    # Dividing the similarities by the memory's norms spares a normalised
    # copy of the (possibly large) memory.
    inverse_norms = 1.0 / np.maximum(np.linalg.norm(memory, axis=1), 1e-12)
    labels = np.asarray(memory_labels, np.int32)
    nearest = _nearest_fn(dim, k)
    queries = np.asarray(queries, np.float32)
    query_starts = range(0, len(queries), query_chunk)
    # Per query chunk: the similarities and labels of the k nearest memory
    # rows so far (-inf until the first memory chunk, which has >= k rows).
    best = []
    for start in query_starts:
        rows = len(queries[start : start + query_chunk])
        best.append(
            (np.full((rows, k), -np.inf, np.float32), np.zeros((rows, k), np.int32))
        )
    # Memory chunks outside: each is converted to a tensor once.
    for start in range(0, num_memory, memory_chunk):
        rows = slice(start, start + memory_chunk)
        chunk = (
            tf.constant(memory[rows]),
            tf.constant(inverse_norms[rows]),
            tf.constant(labels[rows]),
        )
        for i, query_start in enumerate(query_starts):
            block = tf.constant(queries[query_start : query_start + query_chunk])
            best[i] = nearest(*best[i], block, *chunk)
    vote = _vote_fn(num_classes, temperature)
    predicted = [vote(*pair).numpy() for pair in best]
    return np.concatenate(predicted or [np.zeros(0)]).astype(np.int32)


def _nearest_fn(dim, k):
    """Graph function merging one block's nearest neighbours into the best so far.

    `(best_similarities [q, k], best_labels [q, k], queries [q, D], memory
    [m, D], inverse_norms [m], labels [m])` -> the k most similar of the k + m
    candidates: `(similarities [q, k], labels [q, k])`, most similar first.
    """

    def nearest(best_similarities, best_labels, queries, memory, inverse_norms, labels):
        queries = tf.math.l2_normalize(queries, axis=1)
        similarities = tf.matmul(queries, memory, transpose_b=True) * inverse_norms
        top = tf.minimum(k, tf.shape(memory)[0])
        similarities, rows = tf.math.top_k(similarities, top)
        similarities = tf.concat([best_similarities, similarities], axis=1)
        labels = tf.concat([best_labels, tf.gather(labels, rows)], axis=1)
        similarities, keep = tf.math.top_k(similarities, k)
        return similarities, tf.gather(labels, keep, batch_dims=1)

    return compiled(
        nearest,
        tf.TensorSpec([None, k], tf.float32),
        tf.TensorSpec([None, k], tf.int32),
        tf.TensorSpec([None, dim], tf.float32),
        tf.TensorSpec([None, dim], tf.float32),
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


class Evaluator:
    """kNN classification on each tap of the features of encoder `source`.

    Args:
      kind: "knn".
      eval_config: the `config.eval` section (knn_k, knn_temperature).
      taps: tuple of taps.
      source: "trained" or "random".
    """

    def __init__(self, kind, eval_config, taps, source="trained"):
        self.kind, self.eval_config, self.taps, self.source = (
            kind,
            eval_config,
            taps,
            source,
        )
        self.needs = (Need(source, taps),)

    def run(self, step):
        """Yields one `Result` per tap (no model)."""
        train, test = step.features.get(self.source)
        k, temperature = self.eval_config.knn_k, self.eval_config.knn_temperature
        if self.source == "trained":
            step.log(f"kNN (k={k}, T={temperature}) x {', '.join(self.taps)}")
        prefix, section = (
            ("", "probes")
            if self.source == "trained"
            else ("random/", "random_encoder/probes")
        )
        for tap in self.taps:
            predicted = knn_predict(
                train.taps[tap],
                train.labels,
                test.taps[tap],
                step.num_classes,
                k,
                temperature,
            )
            accuracy = float(np.mean(predicted == test.labels))
            row = {
                "tap": tap,
                "kind": self.kind,
                "test_accuracy": accuracy,
                "k": min(k, len(train.labels)),
                "temperature": temperature,
            }
            yield Result(f"{prefix}probe/knn_{tap}", accuracy, section, row)
