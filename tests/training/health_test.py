"""The collapse monitor's scalars against NumPy references and known cases."""

import numpy as np
import pytest

from dim_tf.models import critics, encoders
from dim_tf.training import health


def _numpy_y_std(y):
    unit = y / np.linalg.norm(y, axis=1, keepdims=True)
    return unit.std(axis=0).mean()


def _numpy_effective_rank(y):
    singular = np.linalg.svd(y - y.mean(axis=0), compute_uv=False)
    p = singular / singular.sum()
    p = p[p > 0]
    return np.exp(-(p * np.log(p)).sum())


@pytest.mark.parametrize("shape", [(16, 8), (8, 32)])
def test_y_std_and_effective_rank_match_numpy(shape):
    y = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(health.y_std(y), _numpy_y_std(y), rtol=1e-5)
    np.testing.assert_allclose(
        health.effective_rank(y), _numpy_effective_rank(y), rtol=1e-4
    )


def test_a_collapsed_batch_reads_as_collapsed():
    rng = np.random.default_rng(1)
    spread = rng.normal(size=(256, 16)).astype(np.float32)
    # Healthy: directions all over the sphere, std near 1/sqrt(D).
    assert abs(float(health.y_std(spread)) - 0.25) < 0.02
    assert float(health.effective_rank(spread)) > 12
    # Every Y a positive multiple of one vector: same direction, rank 1.
    line = rng.uniform(1, 2, size=(256, 1)) * rng.normal(size=(1, 16))
    assert float(health.y_std(line)) < 1e-5
    np.testing.assert_allclose(health.effective_rank(line), 1.0, rtol=1e-4)
    # All equal: no spread at all (up to float32 rounding of the normalised
    # rows' mean, which depends on the CPU's reduction kernels).
    same = np.ones((8, 4), np.float32)
    assert float(health.y_std(same)) < 1e-6
    assert float(health.effective_rank(same)) == 0.0


def test_dead_fraction_counts_units_zero_for_every_row():
    fc = np.zeros((4, 5), np.float32)
    fc[0, 1] = 0.5  # Alive in one row only: alive.
    fc[:, 3] = 2.0
    assert float(health.dead_fraction(fc)) == pytest.approx(3 / 5)


def test_positive_and_negative_means_split_the_diagonal():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(5, 5, 3)).astype(np.float32)
    positive, negative = health.positive_negative_means(scores)
    diagonal = np.eye(5, dtype=bool)
    np.testing.assert_allclose(positive, scores[diagonal].mean(), rtol=1e-5)
    np.testing.assert_allclose(negative, scores[~diagonal].mean(), rtol=1e-5)


def test_health_scalars_name_the_critics_the_run_has():
    rng = np.random.default_rng(3)
    features = {
        "local": rng.normal(size=(4, 7, 7, 6)).astype(np.float32),
        "fc": np.maximum(rng.normal(size=(4, 10)), 0).astype(np.float32),
        "y": rng.normal(size=(4, 3)).astype(np.float32),
    }
    local = critics.build_local_critic("dot", 8)
    global_ = critics.build_global_critic(8)
    scalars = health.health_scalars(features, local, global_)
    assert set(scalars) == {
        "health/y_std",
        "health/effective_rank",
        "health/dead_fc_fraction",
        "health/critic_positive",
        "health/critic_negative",
        "health/global_critic_positive",
        "health/global_critic_negative",
    }
    scores = local({"local": features["local"], "y": features["y"]}).numpy()
    positive, negative = health.positive_negative_means(scores)
    np.testing.assert_allclose(scalars["health/critic_positive"], positive, rtol=1e-5)
    assert set(health.health_scalars(features)) == {
        "health/y_std",
        "health/effective_rank",
        "health/dead_fc_fraction",
    }


def test_the_monitor_gives_the_same_scalars_eagerly_and_as_a_graph():
    encoder = encoders.build_encoder("basic28x28", (28, 28, 1), 4)
    critic = critics.build_local_critic("dot", 8)
    images = np.random.default_rng(4).uniform(-1, 1, (6, 28, 28, 1))
    monitor = health.make_monitor(encoder, critic)
    calls = [monitor(images.astype(np.float32)) for _ in range(health.EAGER_CALLS + 1)]
    (eager_features, eager), (graph_features, graph) = calls[0], calls[-1]
    assert set(eager) == set(graph) and len(eager) == 5
    for name in eager:
        np.testing.assert_allclose(graph[name], eager[name], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(graph_features["y"], eager_features["y"], atol=1e-5)
