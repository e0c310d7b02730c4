"""MINE and NDM on samples with known dependence, and their building blocks.

Users call them as `dim_tf.evaluators.mi.mine_estimate` / `ndm_estimate`."""

import math

import numpy as np
import pytest
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.evaluators import mi

pytestmark = pytest.mark.slow


def _correlated_gaussians(n, d, rho, seed=0):
    """x, y `[n, d]` with corr(x_k, y_k) = rho; I(X; Y) = -d/2 log(1 - rho^2)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rho * x + math.sqrt(1.0 - rho**2) * rng.normal(size=(n, d))
    return x, y, -0.5 * d * math.log(1.0 - rho**2)


@pytest.mark.parametrize("d,rho", [(2, 0.8), (3, 0.7)])
def test_mine_is_near_the_true_mi_of_correlated_gaussians(d, rho):
    x, y, true_mi = _correlated_gaussians(1500, d, rho)
    estimate = mi.mine_estimate(x, y, steps=300, seed=0)
    assert isinstance(estimate, float)
    assert abs(estimate - true_mi) < 0.25 * true_mi, (estimate, true_mi)


def test_mine_is_near_zero_for_independent_data():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(1500, 3)), rng.normal(size=(1500, 3))
    estimate = mi.mine_estimate(x, y, steps=300, seed=0)
    assert abs(estimate) < 0.08, estimate


def test_ndm_separates_dependent_from_independent_dimensions():
    rng = np.random.default_rng(2)
    n = 1500
    independent = rng.normal(size=(n, 6))
    shared = rng.normal(size=(n, 1))
    # Two dimensions share a factor (correlation 0.8, total correlation
    # -0.5 log(1 - 0.64) = 0.51 nats); the others are independent.
    dependent = np.concatenate(
        [shared + 0.5 * rng.normal(size=(n, 2)), rng.normal(size=(n, 4))], axis=1
    )
    low = mi.ndm_estimate(independent, steps=300, seed=0)
    high = mi.ndm_estimate(dependent, steps=300, seed=0)
    high_sigmoid = mi.ndm_estimate(1 / (1 + np.exp(-dependent)), 300, 0)
    assert abs(low) < 0.08, low
    assert 0.25 < high < 0.6, high
    assert 0.25 < high_sigmoid < 0.6, high_sigmoid


def test_estimates_are_reproducible_from_the_seed():
    x, y, _ = _correlated_gaussians(200, 2, 0.5)
    first = mi.mine_estimate(x, y, steps=5, seed=3)
    assert mi.mine_estimate(x, y, steps=5, seed=3) == first
    assert mi.ndm_estimate(y, steps=5, seed=3) == mi.ndm_estimate(y, steps=5, seed=3)


def test_dv_bound_matches_numpy():
    rng = np.random.default_rng(0)
    positive = rng.normal(size=7).astype(np.float32)
    negative = (rng.normal(size=11) * 30).astype(np.float32)  # exp overflows naively
    expected = positive.mean() - (
        negative.max()
        + np.log(np.mean(np.exp(negative.astype(np.float64) - negative.max())))
    )
    np.testing.assert_allclose(
        float(mi.dv_bound(positive, negative)), expected, rtol=1e-5
    )


def test_shuffle_dimensions_keeps_marginals_and_breaks_dependence():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 1))
    y = np.concatenate([z, z + 0.1 * rng.normal(size=(2000, 1))], axis=1)
    shuffled = mi.shuffle_dimensions(
        tf.constant(y, tf.float32), tf.constant([0, 1], tf.int32)
    ).numpy()
    for column in range(2):
        np.testing.assert_allclose(
            np.sort(shuffled[:, column]), np.sort(y[:, column].astype(np.float32))
        )
    assert np.corrcoef(y.T)[0, 1] > 0.95
    assert abs(np.corrcoef(shuffled.T)[0, 1]) < 0.1


def test_shuffle_dimensions_orders_each_column_by_its_seeded_keys():
    # The permutation of column j sorts column j of the seeded uniform keys,
    # so NDM's negatives stay those of earlier versions.
    y = np.random.default_rng(1).normal(size=(300, 5)).astype(np.float32)
    seed = tf.constant([3, 4], tf.int32)
    keys = tf.random.stateless_uniform(y.shape, seed).numpy()
    expected = np.take_along_axis(y, np.argsort(keys, axis=0), axis=0)
    shuffled = mi.shuffle_dimensions(tf.constant(y), seed).numpy()
    np.testing.assert_array_equal(shuffled, expected)


@pytest.mark.parametrize(
    "call,fragment",
    [
        (
            lambda: mi.mine_estimate(np.zeros((50, 2)), np.zeros((40, 2)), 5, 0),
            "same number of rows",
        ),
        (
            lambda: mi.mine_estimate(np.zeros(50), np.zeros((50, 2)), 5, 0),
            "[N, D]",
        ),
        (lambda: mi.ndm_estimate(np.zeros((50, 1)), 5, 0), "at least 2"),
        (
            lambda: mi.ndm_estimate(np.full((50, 2), np.nan), 5, 0),
            "non-finite",
        ),
        (lambda: mi.ndm_estimate(np.zeros((50, 2)), 0, 0), "steps"),
    ],
)
def test_bad_input_is_a_one_line_user_error(call, fragment):
    with pytest.raises(UserError) as err:
        call()
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
