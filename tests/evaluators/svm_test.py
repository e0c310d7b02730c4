"""Linear SVMs: C chosen on held-out examples, the example cap, the result rows."""

import types

import numpy as np
import pytest
from ml_collections import config_dict

from dim_tf.evaluators import features as features_lib
from dim_tf.evaluators import knn, svm


def _blobs(n, dim=6, classes=3, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(classes, dim)) * 3
    labels = rng.integers(0, classes, n).astype(np.int32)
    features = means[labels] + spread * rng.normal(size=(n, dim))
    return features.astype(np.float32), labels


def _train_and_test(train, test, **kwargs):
    """Two splits of the same classes."""
    features, labels = _blobs(train + test, **kwargs)
    return (features[:train], labels[:train]), (features[train:], labels[train:])


def _step(train, test, classes=3):
    """A stand-in for `evaluation.Step` on fixed features (no encoder)."""

    def as_features(split):
        features, labels = split
        return features_lib.Features({"y": features}, labels, np.zeros((0, 1)))

    pair = (as_features(train), as_features(test))
    return types.SimpleNamespace(
        features=types.SimpleNamespace(get=lambda source="trained": pair),
        num_classes=classes,
        log=lambda line: None,
    )


def _eval_config(**overrides):
    config = config_dict.ConfigDict(
        {
            "svm": {"cs": "0.01,0.1,1", "max_examples": 0},
            "seed": 0,
            "knn": {"k": 200, "temperature": 0.1, "precision": "float32"},
        }
    )
    config.update_from_flattened_dict(overrides)
    return config


def test_a_linear_svm_separates_separable_classes():
    train, test = _train_and_test(300, 200)
    model = svm.fit_svm(*train, 1.0, seed=0)
    assert model.score(*test) > 0.95


def test_an_svm_stopped_at_its_iteration_cap_is_the_same_for_the_same_seed():
    # Fewer examples than dimensions (the dual solver) and overlapping
    # classes: it stops at the cap, where the order of its passes shows.
    features, labels = _blobs(150, dim=400, spread=8.0)
    with svm._iteration_cap_accepted():
        first, again, other = (
            svm.fit_svm(features, labels, 1.0, seed)[-1].coef_ for seed in (0, 0, 1)
        )
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_the_c_candidates_are_the_svms_each_c_gives_alone():
    # Stopped at the iteration cap, each fit's result depends on the order
    # of its passes; fits sharing liblinear's random generator (in threads
    # side by side) changed each other's: not the same twice.
    features, labels = _blobs(200, dim=2000, spread=8.0)
    cs = (0.01, 0.1, 1.0)
    with svm._iteration_cap_accepted():
        alone = [svm.fit_svm(features, labels, c, 0)[-1].coef_ for c in cs]
    for _ in range(3):
        together = svm.fit_candidates(features, labels, cs, 0)
        for model, coef in zip(together, alone):
            np.testing.assert_array_equal(model[-1].coef_, coef)


def test_c_is_the_candidate_best_on_held_out_examples():
    # Overlapping classes: the C values give different held-out accuracies.
    features, labels = _blobs(400, dim=30, spread=6.0)
    cs = (0.0001, 0.01, 1.0)
    best, scores = svm.choose_c(features, labels, cs, 3, seed=0)
    assert set(scores) == set(cs)
    assert scores[best] == max(scores.values())
    # The held-out fifth is stratified: 20% of each class, the same each time.
    assert svm.choose_c(features, labels, cs, 3, seed=0) == (best, scores)


def test_one_candidate_needs_no_held_out_fit():
    features, labels = _blobs(50)
    assert svm.choose_c(features, labels, (0.5,), 3, seed=0) == (0.5, {})


@pytest.mark.parametrize("limit, used", [(0, 300), (1000, 300), (60, 60)])
def test_svm_rows_report_c_and_the_stratified_example_cap(limit, used):
    train, test = _train_and_test(300, 90)
    evaluator = svm.Evaluator(
        "svm", _eval_config(**{"svm.max_examples": limit}), ("y",)
    )
    (result,) = evaluator.run(_step(train, test))
    row = result.row
    assert result.name == "probe/svm_y" and result.section == "probes"
    assert set(row) == {
        "tap",
        "kind",
        "test_accuracy",
        "train_accuracy",
        "C",
        "num_train_examples",
    }
    # 60 of 300: a fifth of each class, rounded per class.
    assert abs(row["num_train_examples"] - used) <= 1
    assert row["C"] in (0.01, 0.1, 1.0) and row["test_accuracy"] > 0.9
    assert result.model is None  # nothing to export


def test_knn_rows_clip_k_and_name_the_random_baseline():
    train, test = _train_and_test(50, 30)
    evaluator = knn.Evaluator("knn", _eval_config(), ("y",), source="random")
    (result,) = evaluator.run(_step(train, test))
    assert result.name == "random/probe/knn_y"
    assert result.section == "random_encoder/probes"
    assert result.row["k"] == 50 and result.row["temperature"] == 0.1
    assert result.row["precision"] == "float32"
    assert result.row["test_accuracy"] > 0.9 and result.model is None
