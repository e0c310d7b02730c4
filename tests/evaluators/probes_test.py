"""Probe heads, their training on cached features, fine-tuning and feature extraction."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from ml_collections import config_dict

from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import FROZEN_KINDS, TAPS, cpu
from dim_tf.evaluators import features as features_lib
from dim_tf.evaluators.probes import frozen, heads
from dim_tf.input import eval_sets
from dim_tf.models import encoders
from dim_tf.tools import machine
from tests.tiny import tiny_config


def _eval_config(batch_scale=1, precision="float32", **overrides):
    """An `eval` section with `eval.mlp.batch_scale`, `eval.mlp.precision` and
    eval-level `overrides`."""
    config = config_dict.ConfigDict(
        {
            "epochs": 30,
            "batch_size": 32,
            "learning_rate": 1e-2,
            "finetune": {"epochs": 1, "learning_rate": 1e-3},
            "mlp": {"batch_scale": batch_scale, "precision": precision},
        }
    )
    config.update(overrides)
    return config


def _blobs(n=300, dim=20, classes=3, seed=0, scale=1.0, noise=1.0, sample_seed=None):
    """Linearly separable classes: class means far apart along random directions.

    `noise` > 1 makes them overlap; `sample_seed` draws other samples of the
    same classes (the means come from `seed`).
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(classes, dim)) * 4
    if sample_seed is not None:
        rng = np.random.default_rng(sample_seed)
    labels = rng.integers(0, classes, size=n).astype(np.int32)
    features = (means[labels] + noise * rng.normal(size=(n, dim))) * scale
    return features.astype(np.float32), labels


@pytest.mark.parametrize(
    "text,expected",
    [("y", ("y",)), ("y, conv", ("conv", "y")), (["fc", "y"], ("fc", "y"))],
)
def test_parse_names_keeps_the_canonical_order(text, expected):
    assert config_lib.parse_names("tap", text, TAPS) == expected


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("pool", "unknown tap 'pool'"),
        ("y,local", "unknown tap 'local'"),
        ("", "tap names none ('')"),
        (" , ", "tap names none (' , ')"),
        (None, "tap names none (None)"),
    ],
)
def test_parse_names_rejects_unknown_or_empty(text, fragment):
    with pytest.raises(UserError) as err:
        config_lib.parse_names("tap", text, TAPS)
    assert fragment in str(err.value)
    assert "conv, fc, y" in str(err.value)
    assert "\n" not in str(err.value)


def test_linear_head_is_affine_and_mlp_head_is_the_papers():
    features = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    linear = heads.build_head("linear", features, 4)
    assert [type(layer).__name__ for layer in linear.layers[1:]] == [
        "Normalization",
        "Dense",
    ]
    mlp = heads.build_head("mlp", features, 4)
    assert [type(layer).__name__ for layer in mlp.layers[1:]] == [
        "Normalization",
        "Dense",
        "Dropout",
        "BatchNormalization",
        "ReLU",
        "Dense",
    ]
    assert mlp.get_layer("hidden").units == 200
    assert mlp.get_layer("dropout").rate == pytest.approx(0.1)
    assert mlp(features).shape == (40, 4)


def test_normalization_floors_the_variance_of_constant_features():
    features = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    features[:, 0] = 3.0  # constant on the training split
    head = heads.build_head("linear", features, 2)
    moved = features.copy()
    moved[:, 0] += 1.0  # e.g. after fine-tuning
    normalized = head.get_layer("normalize")(moved).numpy()
    assert np.all(np.abs(normalized[:, 0]) < 100)


@pytest.mark.parametrize("kind", FROZEN_KINDS)
def test_frozen_probes_learn_separable_features_at_any_scale(kind):
    features, labels = _blobs(scale=1e3)  # the normalisation absorbs the scale
    head = frozen.train_frozen_probe(kind, (features, labels), 3, _eval_config(), 0)
    test_features, test_labels = _blobs(seed=0, scale=1e3)
    assert heads.accuracy(head, test_features, test_labels) > 0.95


def test_scaled_adam_follows_the_square_root_rule():
    optimizer = frozen.scaled_adam(1e-3, 4)
    assert float(optimizer.learning_rate) == pytest.approx(2e-3)
    assert optimizer.beta_1 == pytest.approx(0.6)
    assert optimizer.beta_2 == pytest.approx(0.996)
    assert optimizer.epsilon == pytest.approx(5e-8)
    unscaled = frozen.scaled_adam(1e-3, 1)
    assert (unscaled.beta_1, unscaled.beta_2) == pytest.approx((0.9, 0.999))


@pytest.mark.parametrize(
    "count, scale",
    # batch_size 32: an epoch keeps >= 100 steps up to batch_scale 8.
    [(1_000, 1.0), (3_200, 1.0), (6_400, 2.0), (50_000, 8.0)],
)
def test_batches_grow_only_on_large_training_sets(count, scale):
    config = _eval_config(batch_scale=8)
    assert frozen.batch_scale(config, count) == pytest.approx(scale)
    assert frozen.batch_scale(_eval_config(), count) == 1.0


def test_epoch_orders_are_the_seeded_shuffles_of_a_tf_data_pipeline():
    orders = frozen.epoch_orders(50, 3, seed=7).numpy()
    assert orders.shape == (3, 50)
    for order in orders:
        assert sorted(order) == list(range(50))
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch
    # A pipeline feeding (features, labels) batches visits them in this order.
    pipeline = (
        tf.data.Dataset.from_tensor_slices(np.arange(50) * 10)
        .shuffle(50, seed=7, reshuffle_each_iteration=True)
        .batch(16)
        .repeat(3)
    )
    fed = np.concatenate([batch.numpy() for batch in pipeline])
    np.testing.assert_array_equal(fed, orders.reshape(-1) * 10)


def test_epoch_orders_are_made_once_per_set_of_arguments():
    orders = frozen.epoch_orders(40, 2, seed=3)
    assert frozen.epoch_orders(40, 2, seed=3) is orders
    assert frozen.epoch_orders(40, 2, seed=4) is not orders


def test_fit_features_takes_every_batch_of_every_epoch():
    features, labels = _blobs(n=250)
    head = heads.build_head("linear", features, 3)
    optimizer = frozen.scaled_adam(1e-3, 1)
    frozen.fit_features(head, features, labels, 64, 3, optimizer, seed=0)
    assert int(optimizer.iterations) == 3 * 4  # 250 examples: 64, 64, 64, 58.


@pytest.mark.parametrize("kind", FROZEN_KINDS)
def test_scaled_batches_learn_separable_features(kind):
    # batch_size 4 on 3,200 examples: batches of 32 (100 steps per epoch).
    features, labels = _blobs(n=3_200, noise=2.0)
    config = _eval_config(epochs=3, batch_size=4, batch_scale=8)
    assert frozen.batch_scale(config, len(labels)) == 8.0
    head = frozen.train_frozen_probe(kind, (features, labels), 3, config, 0)
    test_features, test_labels = _blobs(n=600, noise=2.0, sample_seed=1)
    assert heads.accuracy(head, test_features, test_labels) > 0.95


def test_only_mlp_probes_take_larger_batches():
    features, labels = _blobs(n=3_200, noise=2.0)
    unscaled = _eval_config(epochs=1, batch_size=4)
    scaled = _eval_config(epochs=1, batch_size=4, batch_scale=8)
    for kind, same in (("linear", True), ("mlp", False)):
        heads = [
            frozen.train_frozen_probe(kind, (features, labels), 3, config, 0)
            for config in (unscaled, scaled)
        ]
        kernels = [np.asarray(head.get_layer("logits").kernel) for head in heads]
        assert np.allclose(*kernels) == same


def test_mlp_probe_trains_in_bfloat16_and_keeps_a_float32_head():
    features, labels = _blobs(n=600, noise=2.0)
    config = _eval_config(epochs=5, precision="bfloat16")
    keras.utils.set_random_seed(3)
    untrained = heads.build_head("mlp", features, 3)
    head = frozen.train_frozen_probe("mlp", (features, labels), 3, config, 3)
    test_features, test_labels = _blobs(n=600, noise=2.0, sample_seed=1)
    assert heads.accuracy(head, test_features, test_labels) > 0.95
    # The trained weights were copied into the head, which computes in float32.
    for name in ("hidden", "bn", "logits"):
        layer, before = head.get_layer(name), untrained.get_layer(name)
        assert layer.dtype_policy.name == "float32"
        assert not np.allclose(layer.get_weights()[0], before.get_weights()[0])
    assert head(features[:2]).dtype == "float32"


@pytest.mark.parametrize(
    "setting, speedup, dim, expected",
    [
        ("auto", 1.8, 6272, "bfloat16"),
        ("auto", 1.8, 1024, "float32"),  # A narrow tap stays exact.
        ("auto", 0.5, 6272, "float32"),  # No bfloat16 units.
        ("bfloat16", 0.5, 64, "bfloat16"),
        ("float32", 1.8, 6272, "float32"),
    ],
)
def test_an_auto_mlp_precision_rounds_only_wide_features_where_faster(
    monkeypatch, setting, speedup, dim, expected
):
    monkeypatch.setattr(machine, "bfloat16_speedup", lambda: speedup)
    config = _eval_config(precision=setting)
    assert frozen.mlp_dtype(config, dim) == expected


def test_frozen_probe_cannot_learn_random_labels_it_has_not_seen():
    features, _ = _blobs(n=200)
    labels = np.random.default_rng(5).integers(0, 3, size=200).astype(np.int32)
    head = frozen.train_frozen_probe(
        "linear", (features[:100], labels[:100]), 3, _eval_config(), 0
    )
    assert heads.accuracy(head, features[100:], labels[100:]) < 0.6


def test_frozen_probe_training_is_reproducible():
    features, labels = _blobs()
    first = frozen.train_frozen_probe("mlp", (features, labels), 3, _eval_config(), 7)
    second = frozen.train_frozen_probe("mlp", (features, labels), 3, _eval_config(), 7)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kind, precision",
    [("linear", "float32"), ("mlp", "float32"), ("mlp", "bfloat16")],
)
def test_probes_trained_side_by_side_equal_probes_trained_one_by_one(kind, precision):
    wide, labels = _blobs(n=200, dim=64)
    narrow = wide[:, :5] * 10.0
    few_rows = np.arange(0, 200, 7)
    jobs = [
        ((wide, labels), _eval_config(epochs=3, precision=precision)),
        ((narrow, labels), _eval_config(epochs=3, precision=precision)),
        (
            (narrow[few_rows], labels[few_rows]),
            _eval_config(epochs=9, precision=precision),
        ),
    ]
    together = list(frozen.train_frozen_probes(kind, jobs, 3, seed=4, workers=3))
    for (train, config), head in zip(jobs, together):
        alone = frozen.train_frozen_probe(kind, train, 3, config, 4)
        for a, b in zip(head.get_weights(), alone.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Each job trained its own head: the two on the narrow features differ.
    second, third = (np.asarray(h.get_layer("logits").kernel) for h in together[1:])
    assert not np.allclose(second, third)


def test_one_pool_trains_the_probes_of_several_submits_as_each_alone():
    features, labels = _blobs(n=120, dim=12)
    config = _eval_config(epochs=2)
    pool = frozen.ProbePool(workers=2)
    # Both queued before either's heads are taken, as evaluators started
    # in the background are.
    linear = pool.submit("linear", [((features, labels), config)], 3, seed=1)
    mlp = pool.submit("mlp", [((features[:60], labels[:60]), config)], 3, seed=2)
    pairs = [
        (next(mlp), "mlp", (features[:60], labels[:60]), 2),
        (next(linear), "linear", (features, labels), 1),
    ]
    pool.close()
    for head, kind, train, seed in pairs:
        alone = frozen.train_frozen_probe(kind, train, 3, config, seed)
        for a, b in zip(head.get_weights(), alone.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # A closed pool takes new probes (the evaluation's next step).
    (again,) = pool.submit("linear", [((features, labels), config)], 3, seed=1)
    pool.close()
    np.testing.assert_allclose(again.get_weights()[-1], pairs[1][0].get_weights()[-1])


@pytest.mark.parametrize("stopped, steps", [(False, 3 * 4), (True, 0)])
def test_a_set_stop_variable_skips_the_epochs_left(stopped, steps):
    features, labels = _blobs(n=250)
    head = heads.build_head("linear", features, 3)
    optimizer = frozen.scaled_adam(1e-3, 1)
    fit = frozen._features_fit(
        head, features.shape, labels, 64, 3, optimizer, 0, stop=tf.Variable(stopped)
    )
    fit(tf.constant(features))
    assert int(optimizer.iterations) == steps


def test_closing_the_pool_ends_a_probe_still_training():
    features, labels = _blobs(n=1_000, dim=4)
    # A million steps of one example: about a minute here, were it not ended.
    config = _eval_config(epochs=1_000, batch_size=1)
    pool = frozen.ProbePool(workers=1)
    pool.submit("linear", [((features, labels), config)], 3, seed=0)
    time.sleep(1.0)  # Training by now.
    started = time.monotonic()
    pool.close()
    # Ended within an epoch (1,000 steps), not after the million.
    assert time.monotonic() - started < 30


def test_a_probe_that_fails_in_the_pool_raises_when_its_head_is_taken(monkeypatch):
    features, labels = _blobs(n=60, dim=4)
    with frozen.ProbePool(workers=1) as pool:
        monkeypatch.setattr(frozen, "_features_fit", lambda *args: _raise_in_training)
        heads = pool.submit("linear", [((features, labels), _eval_config())], 3, 0)
        with pytest.raises(RuntimeError, match="out of memory"):
            next(heads)


def _raise_in_training(features):
    raise RuntimeError("out of memory")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    config = tiny_config(**{"data.data_dir": str(tmp_path_factory.mktemp("tfds"))})
    return config, eval_sets.make_eval_dataset(config.data, "train[:96]", 28, 32)


def test_extract_features_flattens_every_tap_and_keeps_images(digits):
    config, dataset = digits
    encoder = encoders.build_encoder("basic28x28", (28, 28, 1), 8)
    features = features_lib.extract_features(
        encoder, dataset, ("conv", "y"), keep_images=40
    )
    assert features.taps["conv"].shape == (96, 7 * 7 * 128)
    assert features.taps["y"].shape == (96, 8)
    assert features.labels.shape == (96,) and features.labels.dtype == np.int32
    assert features.images.shape == (40, 28, 28, 1)
    first_images, first_labels = next(iter(dataset))
    np.testing.assert_array_equal(features.labels[:32], first_labels.numpy())
    np.testing.assert_allclose(
        features.taps["y"][:32],
        encoder(first_images, training=False)["y"].numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_extract_features_are_the_same_whether_the_batch_count_is_known(digits):
    _, dataset = digits
    encoder = encoders.build_encoder("basic28x28", (28, 28, 1), 8)
    unknown = dataset.filter(lambda images, labels: True)
    assert int(unknown.cardinality()) < 0
    for max_examples in (0, 70):
        known = features_lib.extract_features(
            encoder, dataset, ("fc", "y"), max_examples=max_examples
        )
        gathered = features_lib.extract_features(
            encoder, unknown, ("fc", "y"), max_examples=max_examples
        )
        assert len(known.labels) == (max_examples or 96)
        for tap in ("fc", "y"):
            np.testing.assert_array_equal(known.taps[tap], gathered.taps[tap])


def test_extract_features_split_over_parallel_calls_keep_the_rows_order(
    digits, monkeypatch
):
    _, dataset = digits
    encoder = encoders.build_encoder("basic28x28", (28, 28, 1), 8)
    whole = features_lib.extract_features(encoder, dataset, ("conv", "y"))
    parts = []
    map_concurrently = cpu.map_concurrently

    def counting(fn, items):
        items = list(items)
        parts.append([len(item) for item in items])
        return map_concurrently(fn, items)

    monkeypatch.setattr(cpu, "parallel_calls", lambda: 3)
    monkeypatch.setattr(cpu, "map_concurrently", counting)
    split = features_lib.extract_features(encoder, dataset, ("conv", "y"))
    # Three batches of 32 images, each in parts of 11, 11 and 10.
    assert parts == [[11, 11, 10]] * 3
    np.testing.assert_array_equal(split.labels, whole.labels)
    for tap in ("conv", "y"):
        np.testing.assert_allclose(
            split.taps[tap], whole.taps[tap], rtol=1e-5, atol=1e-6
        )


def test_rows_outgrowing_the_first_batch_are_still_all_kept():
    rows = features_lib._Rows(batches=2)
    batches = [np.full((2, 3), 1.0), np.full((5, 3), 2.0), np.full((1, 3), 3.0)]
    for batch in batches:
        rows.append(batch.astype(np.float32))
    np.testing.assert_array_equal(rows.array(), np.concatenate(batches))


def test_finetune_probe_trains_the_encoder_copy_and_stops_at_the_tap(digits):
    config, dataset = digits
    keras.utils.set_random_seed(0)
    encoder = encoders.build_encoder("basic28x28", (28, 28, 1), 8)
    before = {w.path: w.numpy() for w in encoder.weights}
    features = features_lib.extract_features(encoder, dataset, ("conv",))
    classifier = heads.train_finetune_probe(
        encoder,
        "conv",
        features.taps["conv"],
        dataset.unbatch(),
        10,
        _eval_config(),
        0,
    )
    after = {w.path: w.numpy() for w in encoder.weights}
    assert not np.allclose(before["conv1/kernel"], after["conv1/kernel"])
    # Layers past the `conv` tap get no gradient.
    np.testing.assert_array_equal(before["y/kernel"], after["y/kernel"])
    accuracy = heads.dataset_accuracy(classifier, dataset)
    assert 0.0 <= accuracy <= 1.0
    logits = classifier(next(iter(dataset))[0], training=False)
    assert logits.shape == (32, 10)
    assert tf.reduce_all(tf.math.is_finite(logits))
