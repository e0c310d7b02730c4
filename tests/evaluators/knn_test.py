"""Weighted kNN on cosine similarity against a NumPy reference, chunked and not."""

import numpy as np
import pytest

from dim_tf.evaluators import cpu, knn


def reference_knn(memory, memory_labels, queries, num_classes, k, temperature):
    """The InstDisc / DINO vote, one query at a time (float64: exp(1 / 0.01) fits)."""
    memory = memory / np.linalg.norm(memory, axis=1, keepdims=True).astype(np.float64)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True).astype(
        np.float64
    )
    k = min(k, len(memory))
    predicted = []
    for similarities in queries @ memory.T:
        nearest = np.argsort(-similarities)[:k]
        votes = np.zeros(num_classes)
        np.add.at(
            votes, memory_labels[nearest], np.exp(similarities[nearest] / temperature)
        )
        predicted.append(np.argmax(votes))
    return np.array(predicted)


def _features(memory, queries, dim, classes, seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(classes, dim))
    labels = rng.integers(0, classes, memory)
    features = means[labels] + rng.normal(size=(memory, dim))
    return (
        features.astype(np.float32),
        labels,
        rng.normal(size=(queries, dim)).astype(np.float32),
    )


@pytest.mark.parametrize(
    "memory, queries, dim, classes, k, temperature",
    [
        (40, 11, 5, 3, 7, 0.1),
        (15, 6, 4, 4, 200, 0.5),  # k larger than the memory: clipped
        (90, 30, 8, 5, 1, 0.1),  # nearest neighbour
        (60, 20, 3, 2, 25, 0.01),  # a small T: exp(s / T) overflows float32
    ],
)
def test_knn_matches_the_numpy_reference(memory, queries, dim, classes, k, temperature):
    features, labels, query_features = _features(memory, queries, dim, classes, k)
    expected = reference_knn(features, labels, query_features, classes, k, temperature)
    predicted = knn.knn_predict(
        features, labels, query_features, classes, k, temperature
    )
    assert predicted.dtype == np.int32
    np.testing.assert_array_equal(predicted, expected)


def test_chunked_blocks_give_the_unchunked_answer():
    features, labels, query_features = _features(101, 37, 6, 4, seed=1)
    whole = knn.knn_predict(features, labels, query_features, 4, k=9)
    # 3-row query blocks against 16-row memory chunks (the last one shorter).
    chunked = knn.knn_predict(
        features, labels, query_features, 4, k=9, max_block=48, memory_chunk=16
    )
    np.testing.assert_array_equal(chunked, whole)
    assert len(set(whole)) > 1


@pytest.mark.parametrize(
    "calls, max_block, blocks",
    [
        (2, knn.MAX_BLOCK, 2),
        (3, knn.MAX_BLOCK, 3),
        # At most 5 queries a block against 16 memory rows: 8 blocks of 5
        # or fewer, four rounds of two calls (not 8 of 5 and one of 2).
        (2, 80, 8),
    ],
)
def test_queries_split_over_parallel_calls_give_the_same_answer(
    monkeypatch, calls, max_block, blocks
):
    features, labels, query_features = _features(101, 37, 6, 4, seed=2)
    whole = knn.knn_predict(features, labels, query_features, 4, k=9, memory_chunk=16)
    concurrent_blocks = []
    map_concurrently = cpu.map_concurrently

    def counting(fn, items):
        items = list(items)
        concurrent_blocks.append(len(items))
        return map_concurrently(fn, items)

    monkeypatch.setattr(cpu, "parallel_calls", lambda: calls)
    monkeypatch.setattr(cpu, "map_concurrently", counting)
    split = knn.knn_predict(
        features,
        labels,
        query_features,
        4,
        k=9,
        max_block=max_block,
        memory_chunk=16,
    )
    np.testing.assert_array_equal(split, whole)
    assert len(set(whole)) > 1
    # Every memory chunk (7 of 16 rows) updated the same query blocks.
    assert concurrent_blocks == [blocks] * 7


def test_votes_are_weighted_by_similarity():
    # Two neighbours of class 0 point the query's way, three of class 1 less so:
    # the majority says 1, exp(similarity / T) says 0.
    memory = np.array(
        [[1, 0.05], [1, -0.05], [1, 1.2], [1, -1.2], [1, 1.3]], np.float32
    )
    labels = np.array([0, 0, 1, 1, 1])
    query = np.array([[1.0, 0.0]], np.float32)
    assert knn.knn_predict(memory, labels, query, 2, k=5, temperature=0.1)[0] == 0
    assert knn.knn_predict(memory, labels, query, 2, k=5, temperature=100.0)[0] == 1


def test_bfloat16_products_find_about_the_same_neighbours():
    # Similarities rounded to bfloat16 (within ~1e-3) may swap near-ties only.
    every, every_label, _ = _features(600, 0, 64, 5, seed=3)
    features, labels = every[:400], every_label[:400]
    queries, query_labels = every[400:], every_label[400:]
    exact = knn.knn_predict(features, labels, queries, 5, k=10)
    rounded = knn.knn_predict(features, labels, queries, 5, k=10, dtype="bfloat16")
    assert rounded.dtype == np.int32
    assert np.mean(exact == query_labels) > 0.9
    assert np.mean(rounded == exact) >= 0.98
    chunked = knn.knn_predict(
        features, labels, queries, 5, k=10, memory_chunk=64, dtype="bfloat16"
    )
    np.testing.assert_array_equal(chunked, rounded)
