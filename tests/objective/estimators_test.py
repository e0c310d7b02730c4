"""MI estimators against a hand-written NumPy reference of the formulas in docs/method.md."""

import math

import numpy as np
import pytest
import tensorflow as tf

from dim_tf.objective import estimators
from tests import strategies


def _softplus(x):
    return np.logaddexp(0.0, x)


def _logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def reference_bound(scores, estimator):
    """Literal loops over the formulas of docs/method.md, float64."""
    s = np.asarray(scores, np.float64)
    n, _, num_loc = s.shape
    pos = [s[i, i, l] for i in range(n) for l in range(num_loc)]
    neg = [
        s[i, j, l] for i in range(n) for j in range(n) if i != j for l in range(num_loc)
    ]
    if estimator == "jsd":
        return np.mean([math.log(2) - _softplus(-u) for u in pos]) - np.mean(
            [_softplus(u) - math.log(2) for u in neg]
        )
    if estimator == "dv":
        return np.mean(pos) - math.log(np.mean(np.exp(neg)))
    terms = []
    for i in range(n):
        row_neg = [s[i, j, m] for j in range(n) if j != i for m in range(num_loc)]
        for l in range(num_loc):
            terms.append(s[i, i, l] - _logsumexp(np.array([s[i, i, l]] + row_neg)))
    return np.mean(terms) + math.log(1 + (n - 1) * num_loc)


CASES = [
    (n, num_loc, scale) for n in (2, 5) for num_loc in (1, 4) for scale in (1.0, 30.0)
]


@pytest.mark.parametrize("estimator", estimators.ESTIMATORS)
@pytest.mark.parametrize("n,num_loc,scale", CASES)
def test_matches_numpy_reference(estimator, n, num_loc, scale):
    rng = np.random.default_rng(n * 100 + num_loc)
    scores = (rng.standard_normal((n, n, num_loc)) * scale).astype(np.float32)
    got = float(estimators.mi_bound(tf.constant(scores), estimator))
    want = reference_bound(scores, estimator)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("estimator", estimators.ESTIMATORS)
def test_float32_under_low_precision_and_finite_for_large_scores(estimator):
    scores = tf.constant(
        np.linspace(-400, 400, 4 * 4 * 3).reshape(4, 4, 3), tf.bfloat16
    )
    with tf.GradientTape() as tape:
        tape.watch(scores)
        bound = estimators.mi_bound(scores, estimator)
    grad = tape.gradient(bound, scores)
    assert bound.dtype == tf.float32
    assert np.isfinite(float(bound))
    assert np.all(np.isfinite(tf.cast(grad, tf.float32).numpy()))


@pytest.mark.parametrize("estimator", estimators.ESTIMATORS)
def test_separable_scores_give_high_bound(estimator):
    # Positives far above negatives: every bound is large and positive; for NCE
    # it approaches its ceiling log(1 + (N-1)L).
    n, num_loc = 6, 3
    scores = np.full((n, n, num_loc), -10.0, np.float32)
    for i in range(n):
        scores[i, i] = 10.0
    bound = float(estimators.mi_bound(tf.constant(scores), estimator))
    assert bound > 0.5
    if estimator == "nce":
        assert bound == pytest.approx(math.log(1 + (n - 1) * num_loc), abs=1e-3)


@pytest.mark.parametrize("estimator", estimators.ESTIMATORS)
def test_two_replicas_holding_half_the_rows_give_the_global_bound(estimator):
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((6, 6, 2)).astype(np.float32) * 3
    want = float(estimators.mi_bound(tf.constant(scores), estimator))
    strategy = strategies.two_replicas()

    def shard_bound(rows):
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group
        return estimators.sharded_mi_bound(
            rows,
            estimator,
            row_offset=3 * replica,
            num_shards=2,
            sum_across_shards=lambda x: ctx.all_reduce("sum", x),
        )

    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(scores[3 * ctx.replica_id_in_sync_group :][:3])
    )
    per_replica = strategy.run(tf.function(shard_bound), args=(shards,))
    for value in strategy.experimental_local_results(per_replica):
        np.testing.assert_allclose(float(value), want, rtol=1e-5)


def _two_replica_bounds_and_gradients(scores, estimator):
    """Each replica's bound and the gradient with respect to its half of the rows."""
    strategy = strategies.two_replicas()
    rows = scores.shape[0] // 2

    def shard_bound(shard):
        ctx = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            tape.watch(shard)
            bound = estimators.sharded_mi_bound(
                shard,
                estimator,
                row_offset=rows * ctx.replica_id_in_sync_group,
                num_shards=2,
                sum_across_shards=lambda x: ctx.all_reduce("sum", x),
            )
        # The gradient of a cross-replica sum is again summed over the
        # replicas: each replica's share of the global gradient is 1/2 of it.
        return bound, tape.gradient(bound, shard) / 2.0

    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(scores[rows * ctx.replica_id_in_sync_group :][:rows])
    )
    bounds, grads = strategy.run(tf.function(shard_bound), args=(shards,))
    bounds = [float(b) for b in strategy.experimental_local_results(bounds)]
    grads = np.concatenate(
        [g.numpy() for g in strategy.experimental_local_results(grads)]
    )
    return bounds, grads


def test_dv_on_two_replicas_with_shard_maxima_200_apart_is_the_global_value():
    # Shifting exp by the mean of the shard maxima (100) would overflow:
    # exp(200 - 100) is beyond float32.
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((4, 4, 2)).astype(np.float32)
    scores[2:] += 200.0  # The second replica's rows: maxima about 200 higher.
    whole = tf.constant(scores)
    with tf.GradientTape() as tape:
        tape.watch(whole)
        want = estimators.mi_bound(whole, "dv")
    want_grad = tape.gradient(want, whole).numpy()
    assert np.isfinite(float(want))

    bounds, grads = _two_replica_bounds_and_gradients(scores, "dv")

    for value in bounds:
        assert np.isfinite(value)
        np.testing.assert_allclose(value, float(want), rtol=1e-5)
    np.testing.assert_allclose(grads, want_grad, rtol=1e-4, atol=1e-6)


def test_unknown_estimator_names_valid_ones():
    with pytest.raises(ValueError, match="jsd, nce, dv"):
        estimators.mi_bound(tf.zeros((2, 2, 1)), "mine")
