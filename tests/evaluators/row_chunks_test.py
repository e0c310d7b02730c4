"""Row-chunked work on large feature matrices: the same results as all at once."""

import numpy as np
import pytest
import tensorflow as tf

from dim_tf.evaluators import cpu


def _features(rows=103, dim=7, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant((rng.normal(size=(rows, dim)) * 3 + 5).astype(np.float32))


def test_rows_per_chunk_fits_the_budget_and_takes_at_least_one_row():
    assert cpu.rows_per_chunk(1024, chunk_bytes=4096 * 10) == 10
    assert cpu.rows_per_chunk(10**6, chunk_bytes=16) == 1


@pytest.mark.parametrize("as_numpy", [False, True])
@pytest.mark.parametrize("chunk_bytes", [4 * 7 * 10, 4 * 7 * 103, 2**24])
def test_map_rows_equals_one_call_on_every_row(chunk_bytes, as_numpy):
    features = _features()
    inputs = features.numpy() if as_numpy else features
    mapped = cpu.map_rows(lambda x: 2.0 * x[:, :3] + 1.0, inputs, chunk_bytes)
    np.testing.assert_array_equal(mapped.numpy(), 2.0 * features.numpy()[:, :3] + 1.0)


@pytest.mark.parametrize("as_numpy", [False, True])
@pytest.mark.parametrize("chunk_bytes", [4 * 7 * 10, 2**24])
def test_column_moments_equal_tf_nn_moments(chunk_bytes, as_numpy):
    features = _features()
    inputs = features.numpy() if as_numpy else features
    mean, variance = cpu.column_moments(inputs, chunk_bytes)
    expected_mean, expected_variance = tf.nn.moments(features, axes=[0])
    np.testing.assert_allclose(mean.numpy(), expected_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(variance.numpy(), expected_variance.numpy(), rtol=1e-5)
