"""The objective beyond the paper: multi-scale pairs, occlusion, coordinate
prediction, and the paper's defaults computing exactly the paper's loss."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from dim_tf.models import coordinate_head
from dim_tf.objective import coordinates, dim_loss, estimators, occlusion, view_terms
from dim_tf.training import build
from tests import strategies
from tests.tiny import tiny_config

IMAGE_SHAPE = (28, 28, 1)
ONE = strategies.one_device()


def _images(seed=(1, 2), views=1, rows=8):
    shape = (rows, *IMAGE_SHAPE) if views == 1 else (rows, views, *IMAGE_SHAPE)
    return tf.random.stateless_uniform(shape, seed, -1.0, 1.0)


def test_the_paper_defaults_compute_the_paper_objective():
    run = build.build_trainer(
        tiny_config(**{"objective.prior": "none"}), IMAGE_SHAPE, ONE
    )
    images = _images()
    metrics, _, _ = run.losses_and_gradients(images, tf.constant(0, tf.int64))
    assert sorted(metrics) == ["loss", "mi/local"]
    # The paper's objective as it always was computed: one encoder pass,
    # Y against its own local map.
    features = run.encoder(images, training=True)
    reference = dim_loss.mi_estimates(
        features,
        run.local_critic,
        None,
        run.weights,
        run.estimator,
        dim_loss.ReplicaContext(),
    )
    assert float(metrics["mi/local"]) == float(reference["mi/local"])
    assert float(metrics["loss"]) == -float(reference["mi/local"])


def test_each_pair_scores_with_its_own_shape():
    scales = "y:local=1,y:conv1=0.5,conv2:conv2=0.5"
    run = build.build_trainer(
        tiny_config(**{"objective.scales": scales}), IMAGE_SHAPE, ONE
    )
    features = run.encoder(_images(rows=4), training=False)
    shapes = {}
    for pair, critic in run.pair_critics:
        local_emb, global_emb = critic.embed(
            features[pair.target], features[pair.source], training=False
        )
        shapes[pair.name] = tuple(critic.pair_scores(global_emb, local_emb).shape)
    # Y against the 7x7 and 14x14 maps; each of the 49 locations of conv2
    # against the 49 of every image.
    assert shapes == {
        "y-local": (4, 4, 49),
        "y-conv1": (4, 4, 196),
        "conv2-conv2": (4 * 49, 4, 49),
    }
    assert len({id(critic) for _, critic in run.pair_critics}) == 3
    assert run.models["local_critic"] is run.pair_critics[0][1]
    metrics, _, _ = run.losses_and_gradients(_images(rows=4), tf.constant(0, tf.int64))
    weighted = (
        metrics["mi/y-local"]
        + 0.5 * metrics["mi/y-conv1"]
        + 0.5 * metrics["mi/conv2-conv2"]
    )
    np.testing.assert_allclose(float(metrics["mi/local"]), float(weighted), rtol=1e-6)


@pytest.mark.parametrize("estimator", ["jsd", "nce"])
def test_map_rows_are_queries_of_their_image(estimator):
    # Rows i*q .. i*q+q-1 belong to image i: the bound is the mean of the
    # bounds of each query position alone (exact for JSD and InfoNCE).
    images, queries, locations = 5, 3, 4
    scores = tf.random.stateless_normal((images * queries, images, locations), (7, 8))
    bound = estimators.sharded_mi_bound(scores, estimator, queries_per_image=queries)
    each = [
        float(estimators.mi_bound(scores[q::queries], estimator))
        for q in range(queries)
    ]
    np.testing.assert_allclose(float(bound), np.mean(each), rtol=1e-5)


def test_occlusion_hides_part_of_the_image_from_y_only():
    run = build.build_trainer(tiny_config(), IMAGE_SHAPE, ONE)
    images = _images(views=2)
    seed = tf.constant([3, 4], tf.int32)
    replica = dim_loss.ReplicaContext()
    clean = view_terms.encode_views(run.encoder, images, 2, 0.0, seed, replica)
    hidden = view_terms.encode_views(run.encoder, images, 2, 0.25, seed, replica)
    for c, h in zip(clean, hidden):
        for name in ("local", "conv", "conv1", "fc"):
            np.testing.assert_array_equal(c[name].numpy(), h[name].numpy())
        assert float(tf.reduce_max(tf.abs(c["y"] - h["y"]))) > 1e-4
    occluded = occlusion.occlude(tf.ones((3, 28, 28, 1)), 0.25, seed, replica)
    side = occlusion.occluded_side(28, 0.25)
    assert side == 14
    np.testing.assert_array_equal(
        tf.reduce_sum(1.0 - occluded, axis=(1, 2, 3)).numpy(), [side * side] * 3
    )
    again = occlusion.occlude(tf.ones((3, 28, 28, 1)), 0.25, seed, replica)
    np.testing.assert_array_equal(occluded.numpy(), again.numpy())


def _moving_statistics_after_a_step(occlusion_fraction, strategy):
    config = tiny_config(**{"objective.occlusion": occlusion_fraction})
    # The same seed: both runs start from the same weights.
    run = build.build_trainer(config, IMAGE_SHAPE, strategy)
    # Offset and scale unlike the initial moving mean 0 and variance 1.
    images = 0.8 + 0.1 * _images(rows=8)
    dataset = tf.data.Dataset.from_tensors(images).repeat()
    run.train_steps(iter(strategy.experimental_distribute_dataset(dataset)), 1)
    # Every replica's copy: each replica updates (and restores) its own.
    return {
        f"{v.path}:{replica}": value.numpy()
        for v in run.encoder.non_trainable_variables
        for replica, value in enumerate(strategy.experimental_local_results(v.value))
    }


@pytest.mark.parametrize("replicas", [1, 2])
def test_occlusion_leaves_the_moving_statistics_to_the_clean_images(replicas):
    strategy = ONE if replicas == 1 else strategies.two_replicas()
    clean = _moving_statistics_after_a_step(0.0, strategy)
    occluded = _moving_statistics_after_a_step(0.5, strategy)
    means = [value for path, value in clean.items() if "moving_mean" in path]
    # The step moved every moving mean (of every replica) from its zeros...
    assert len({path.split(":")[1] for path in clean}) == replicas
    assert means and all(np.abs(mean).max() > 0 for mean in means)
    # ... and the occluded pass did not move them again.
    for path, value in clean.items():
        np.testing.assert_allclose(occluded[path], value, rtol=1e-5, atol=1e-6)


def test_the_coordinate_loss_falls_when_only_the_head_trains():
    local = tf.random.stateless_normal((8, 4, 4, 6), (1, 2))
    y = tf.random.stateless_normal((8, 5), (3, 4))
    head = coordinate_head.CoordinateHead(16, units=32)
    head.build_from_shapes(local.shape[1:], y.shape[1:])
    replica = dim_loss.ReplicaContext()
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    for _ in range(40):
        with tf.GradientTape() as tape:
            loss = coordinates.coordinate_loss(head, local, y, replica)
        optimizer.apply(
            tape.gradient(loss, head.trainable_variables), head.trainable_variables
        )
        losses.append(float(loss))
    assert abs(losses[0] - math.log(16)) < 1.0  # Near chance at the start.
    assert losses[-1] < losses[0] - 1.0


@pytest.mark.parametrize(
    "views,scales,pair",
    [
        (1, "y:local,y:conv1=0.5", "y-conv1"),
        (2, "y:local,local:local=0.5", "local-local"),
    ],
)
def test_every_option_trains_together(views, scales, pair):
    config = tiny_config(
        **{
            "objective.views": views,
            "objective.scales": scales,
            "objective.occlusion": 0.25,
            "objective.coordinates": 1.0,
            "objective.estimator": "nce",
            "train.learning_rate": 1e-3,
        }
    )
    run = build.build_trainer(config, IMAGE_SHAPE, ONE)
    iterator = iter(tf.data.Dataset.from_tensors(_images(views=views)).repeat())
    first, bad = run.train_steps(iterator, 1)
    last, bad = run.train_steps(iterator, 8)
    assert int(bad) == -1
    assert set(first) == set(run.metric_names())
    assert "aux/coordinates_loss" in first and f"mi/{pair}" in first
    assert float(last["loss"]) < float(first["loss"])
