"""TensorBoard views: neighbours, heat maps, projector files, local critic scores."""

import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins.projector import projector_config_pb2

from dim_tf.evaluators import views
from dim_tf.models import critics, encoders


def _images(n, size=8, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(n, size, size, channels)).astype(np.float32)


def test_to_rgb_uint8_maps_the_model_range_to_pixels():
    images = np.array([-1.0, 0.0, 1.0], np.float32).reshape(1, 1, 3, 1)
    rgb = views.to_rgb_uint8(images)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(rgb[0, 0, :, 0], [0, 128, 255])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])  # grey


def test_nearest_neighbours_match_brute_force_cosine():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(30, 5))
    queries = np.array([0, 7, 29])
    found = views.nearest_neighbours(y, queries, 4)
    unit = y / np.linalg.norm(y, axis=1, keepdims=True)
    for row, query in enumerate(queries):
        similarity = unit @ unit[query]
        similarity[query] = -np.inf
        np.testing.assert_array_equal(found[row], np.argsort(-similarity)[:4])
        assert query not in found[row]


def test_spread_queries_cycle_through_the_classes():
    labels = np.array([3, 3, 1, 1, 2, 3, 1])
    chosen = views.spread_queries(labels, 4)
    assert sorted(labels[chosen[:3]]) == [1, 2, 3]
    assert len(set(chosen)) == 4


def test_neighbour_grid_frames_matching_neighbours_green():
    # Two tight clusters: every neighbour of a query shares its label.
    rng = np.random.default_rng(0)
    labels = np.array([0] * 6 + [1] * 6)
    y = np.where(labels[:, None] == 0, 5.0, -5.0) * np.ones((12, 3))
    y = y + 0.01 * rng.normal(size=y.shape)
    grid = views.neighbour_grid(_images(12), labels, y, queries=2, k=3)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    cell = 56 + 4 + 2  # enlarged 8x8 image, its frame, the gap
    assert grid.shape[:2] == (2 * cell + 2, 4 * cell + 2)
    green = np.all(grid == views._MATCH_FRAME, axis=-1).sum()
    red = np.all(grid == views._MISMATCH_FRAME, axis=-1).sum()
    assert green > 0 and red == 0


def test_heat_overlay_is_brightest_where_the_map_is_highest():
    images = np.zeros((1, 16, 16, 1), np.float32)
    maps = np.zeros((1, 4, 4), np.float32)
    maps[0, 0, 0] = 1.0
    overlay = views.heat_overlay(images, maps).astype(int)
    assert overlay.shape == (1, 16, 16, 3)
    assert overlay[0, 0, 0].sum() > overlay[0, 15, 15].sum() + 100


def test_write_projector_writes_what_the_plugin_reads(tmp_path):
    y = np.random.default_rng(0).normal(size=(5, 3))
    views.write_projector(
        str(tmp_path), y, np.array([0, 1, 1, 0, 1]), ["zero", "one"], _images(5)
    )
    with open(tmp_path / "projector_config.pbtxt") as f:
        config = text_format.Parse(f.read(), projector_config_pb2.ProjectorConfig())
    embedding = config.embeddings[0]
    assert list(embedding.sprite.single_image_dim) == [8, 8]
    vectors = np.loadtxt(tmp_path / embedding.tensor_path, delimiter="\t")
    np.testing.assert_allclose(vectors, y, rtol=1e-5)
    with open(tmp_path / embedding.metadata_path) as f:
        lines = f.read().splitlines()
    assert lines == ["label\tclass", "0\tzero", "1\tone", "1\tone", "0\tzero", "1\tone"]
    sprite = tf.io.decode_png(
        tf.io.read_file(str(tmp_path / embedding.sprite.image_path))
    )
    assert sprite.shape == (3 * 8, 3 * 8, 3)  # ceil(sqrt(5)) = 3 per side


@pytest.mark.parametrize("kind", ["dot", "concat"])
def test_positive_local_scores_are_the_critics_diagonal(kind):
    encoder = encoders.build_encoder("basic28x28", (28, 28, 1), 8)
    critic = critics.build_local_critic(kind, 16)
    images = _images(3, size=28)
    maps = views.positive_local_scores(encoder, critic, images)
    assert maps.shape == (3, 7, 7)
    features = encoder(images, training=False)
    scores = critic({"local": features["local"], "y": features["y"]}, training=False)
    for i in range(3):
        np.testing.assert_allclose(
            maps[i].reshape(-1), scores.numpy()[i, i], rtol=1e-4, atol=1e-4
        )


def test_local_mi_grid_pairs_each_image_with_its_overlay(tmp_path):
    images = _images(3, size=28)
    grid = views.local_mi_grid(images, np.random.default_rng(0).normal(size=(3, 7, 7)))
    # 28 px images are doubled to 56, framed (+4), with 2 px gaps.
    assert grid.shape == (60 + 4, 6 * 62 + 2, 3)
    path = str(tmp_path / "map.png")
    views.save_png(grid, path)
    assert os.path.getsize(path) > 0
