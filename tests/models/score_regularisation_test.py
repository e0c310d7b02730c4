"""critic.score_scale / score_clip / score_penalty against NumPy references."""

import math

import numpy as np
import pytest
import tensorflow as tf

from dim_tf.models import critics
from dim_tf.objective import Weights, dim_loss, estimators
from dim_tf.training import build
from tests import strategies
from tests.tiny import tiny_config

N, M, C, D = 4, 5, 6, 3  # batch, map size, local channels, y_dim
UNITS = 8
_IMAGE_SHAPE = (28, 28, 1)  # The tiny config's digits.


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "local": rng.normal(size=(N, M, M, C)).astype("float32"),
        "y": rng.normal(size=(N, D)).astype("float32"),
    }


def _clip(scores, limit):
    return limit * np.tanh(scores / limit)


def _twin(critic, reference, inputs):
    """`reference` built with `critic`'s weights."""
    reference.build({"local": inputs["local"].shape, "y": inputs["y"].shape})
    reference.set_weights(critic.get_weights())
    return reference


def test_dot_scores_scaled_by_sqrt_units_then_soft_clipped():
    inputs = _inputs(seed=1)
    limit = 0.5
    critic = critics.DotCritic(UNITS, score_scale="sqrt_units", score_clip=limit)
    critic.build_from_shapes((M, M, C), (D,))
    plain = _twin(critic, critics.DotCritic(UNITS), inputs)
    local_emb, global_emb = critic.embed(inputs["local"], inputs["y"])
    dots = np.einsum(
        "ie,jle->ijl",
        global_emb.numpy(),
        local_emb.numpy(),
    )
    np.testing.assert_allclose(plain(inputs), dots, rtol=1e-5, atol=1e-5)
    scaled = dots / math.sqrt(UNITS)
    assert np.abs(scaled).max() > 2 * limit  # The clip is doing something.
    np.testing.assert_allclose(
        critic.unclipped_pair_scores(global_emb, local_emb),
        scaled,
        rtol=1e-5,
        atol=1e-5,
    )
    expected = _clip(scaled, limit)
    np.testing.assert_allclose(critic(inputs), expected, rtol=1e-5, atol=1e-6)
    assert np.abs(critic(inputs).numpy()).max() < limit


@pytest.mark.parametrize("kind", ["concat", "global"])
def test_concat_critics_soft_clip_too(kind):
    inputs = _inputs(seed=2)
    make = critics.ConcatCritic if kind == "concat" else critics.GlobalCritic
    critic = make(UNITS, score_clip=0.05)
    critic(inputs)
    raw = _twin(critic, make(UNITS), inputs)(inputs).numpy()
    assert np.abs(raw).max() > 0.1
    np.testing.assert_allclose(critic(inputs), _clip(raw, 0.05), rtol=1e-5, atol=1e-7)


def test_clipped_scores_are_float32_under_mixed_bfloat16():
    critic = critics.DotCritic(
        UNITS, dtype="mixed_bfloat16", score_scale="sqrt_units", score_clip=20.0
    )
    assert critic(_inputs()).dtype == tf.float32


def test_bad_score_options_are_one_line():
    # Users meet `check_score_options` first.
    with pytest.raises(ValueError) as info:
        critics.build_local_critic("concat", 8, score_scale="sqrt_units")
    assert "\n" not in str(info.value) and "dot" in str(info.value)
    with pytest.raises(ValueError) as info:
        critics.build_local_critic("dot", 8, score_scale="sqrt")
    assert "none, sqrt_units" in str(info.value)
    for bad in (0, -1.0, math.inf, math.nan, True, "20"):
        with pytest.raises(ValueError) as info:
            critics.build_local_critic("dot", 8, score_clip=bad)
        assert "\n" not in str(info.value) and "score_clip" in str(info.value)


def _features(seed=3):
    rng = np.random.default_rng(seed)
    return {
        "local": tf.constant(rng.normal(size=(N, M, M, C)).astype("float32")),
        "y": tf.constant(rng.normal(size=(N, D)).astype("float32")),
    }


def test_the_penalty_is_the_weighted_mean_squared_unclipped_score():
    """And the estimators see the clipped scores."""
    features = _features()
    weight = 0.1
    # Limits below some scores of each critic, so that the clip is active.
    local = critics.DotCritic(UNITS, score_scale="sqrt_units", score_clip=0.5)
    glob = critics.GlobalCritic(UNITS, score_clip=0.1)
    for critic in (local, glob):
        critic.build_from_shapes((M, M, C), (D,))
    weights = Weights(alpha=0.5, beta=1.0, gamma=0.0)
    replica = dim_loss.ReplicaContext()
    terms = dim_loss.mi_estimates(
        features, local, glob, weights, "jsd", replica, score_penalty=weight
    )

    expected_penalty = 0.0
    for name, critic in (("mi/local", local), ("mi/global", glob)):
        local_emb, global_emb = critic.embed(
            features["local"], features["y"], training=True
        )
        raw = critic.unclipped_pair_scores(global_emb, local_emb).numpy()
        expected_penalty += weight * np.mean(raw**2)
        clipped = _clip(raw, critic.score_clip)
        assert np.abs(raw).max() > critic.score_clip
        np.testing.assert_allclose(
            terms[name], estimators.mi_bound(clipped, "jsd"), rtol=1e-5, atol=1e-6
        )
    np.testing.assert_allclose(
        terms[dim_loss.SCORE_PENALTY], expected_penalty, rtol=1e-5
    )
    loss = dim_loss.encoder_loss(terms, None, weights)
    np.testing.assert_allclose(
        loss,
        -(0.5 * terms["mi/global"] + terms["mi/local"]) + expected_penalty,
        rtol=1e-5,
    )
    without = dim_loss.mi_estimates(features, local, glob, weights, "jsd", replica)
    assert dim_loss.SCORE_PENALTY not in without


def test_the_penalty_is_a_training_metric_and_part_of_the_loss():
    # One and two replicas agree with the options on: trainer_test.
    config = tiny_config(
        **{
            "objective.mode": "local+global",
            "critic.score_scale": "sqrt_units",
            "critic.score_clip": 2.0,
            "critic.score_penalty": 0.05,
        }
    )
    run = build.build_trainer(config, _IMAGE_SHAPE, strategies.one_device())
    assert dim_loss.SCORE_PENALTY in run.metric_names()
    images = tf.random.stateless_uniform((8, *_IMAGE_SHAPE), (1, 2), -1.0, 1.0)
    metrics, _, _ = run.losses_and_gradients(images, tf.constant(0, tf.int64))
    penalty = float(metrics[dim_loss.SCORE_PENALTY])
    assert penalty > 0
    weights = run.weights
    without_penalty = (
        -(weights.alpha * metrics["mi/global"] + weights.beta * metrics["mi/local"])
        + weights.gamma * metrics["prior/encoder_loss"]
    )
    np.testing.assert_allclose(metrics["loss"], without_penalty + penalty, rtol=1e-5)
