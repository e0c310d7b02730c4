"""The embedded `digits` TFDS dataset builds offline from scikit-learn's copy."""

import collections

import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets

from dim_tf.input import digits
from tests import processes


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """{split: (images uint8 [N, 8, 8, 1], labels [N])}, built into a fresh dir."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    loaded, info = tfds.load(
        "digits", data_dir=data_dir, split=["train", "test"], with_info=True
    )
    arrays = {}
    for name, ds in zip(["train", "test"], loaded):
        examples = list(tfds.as_numpy(ds))
        arrays[name] = (
            np.stack([ex["image"] for ex in examples]),
            np.array([ex["label"] for ex in examples]),
        )
    return arrays, info


def _sklearn_scaled():
    raw = sk_datasets.load_digits()
    images = np.round(raw.images * 255.0 / 16.0).astype(np.uint8)[..., None]
    return images, raw.target


def _counter(images, labels):
    return collections.Counter(
        (image.tobytes(), int(label)) for image, label in zip(images, labels)
    )


def test_registered_with_tfds():
    assert "digits" in tfds.list_builders(with_community_datasets=False)


def test_sizes_features_and_metadata(splits):
    arrays, info = splits
    assert info.splits["train"].num_examples == 1437
    assert info.splits["test"].num_examples == 360
    assert len(arrays["train"][0]) == 1437 and len(arrays["test"][0]) == 360
    assert info.features["image"].shape == (8, 8, 1)
    assert info.features["label"].names == [str(i) for i in range(10)]
    assert info.supervised_keys == ("image", "label")
    assert "Alpaydin" in info.citation and info.description
    for images, labels in arrays.values():
        assert images.dtype == np.uint8 and images.shape[1:] == (8, 8, 1)
        assert images.max() == 255 and images.min() == 0
        assert set(labels.tolist()) == set(range(10))


def test_split_is_stratified(splits):
    arrays, _ = splits
    overall = np.bincount(sk_datasets.load_digits().target) / 1797
    for name, size in (("train", 1437), ("test", 360)):
        counts = np.bincount(arrays[name][1], minlength=10)
        assert np.all(np.abs(counts - size * overall) <= 1), name


def test_images_are_the_sklearn_digits(splits):
    arrays, _ = splits
    images, labels = _sklearn_scaled()
    train_idx, test_idx = digits.split_indices()
    assert not set(train_idx) & set(test_idx)
    for name, idx in (("train", train_idx), ("test", test_idx)):
        assert _counter(*arrays[name]) == _counter(images[idx], labels[idx])
    # Spot checks against the raw 0..16 values: image 0 is a 0, image 1 a 1.
    raw = sk_datasets.load_digits()
    known = _counter(*arrays["train"]) + _counter(*arrays["test"])
    for i in range(5):
        scaled = np.round(raw.images[i] * 255 / 16).astype(np.uint8)[..., None]
        assert known[(scaled.tobytes(), int(raw.target[i]))] >= 1


def test_load_arrays_scale():
    images, labels = digits.load_arrays()
    raw = sk_datasets.load_digits()
    np.testing.assert_array_equal(images[..., 0], np.round(raw.images * 255 / 16))
    np.testing.assert_array_equal(labels, raw.target)


def test_expanded_digits_are_seeded_28x28_variations_with_their_labels():
    images, labels = digits.load_arrays()
    train, test = digits.split_indices()
    first, first_labels = digits.expand(images[train], labels[train], 1500, seed=3)
    again, _ = digits.expand(images[train], labels[train], 1500, seed=3)
    other, _ = digits.expand(images[train], labels[train], 1500, seed=4)
    assert first.shape == (1500, 28, 28, 1) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert np.mean(first != other) > 0.5
    np.testing.assert_array_equal(first_labels, labels[train][np.arange(1500) % 1437])
    # Variations of the held-out digits are recognised from variations of the
    # train digits (nearest neighbour on pixels): the labels fit the images.
    queries, query_labels = digits.expand(images[test], labels[test], 200, seed=5)
    flat = first.reshape(1500, -1).astype(np.float32)
    distances = (
        np.sum(flat**2, 1)[None]
        - 2 * queries.reshape(200, -1).astype(np.float32) @ flat.T
    )
    accuracy = np.mean(first_labels[np.argmin(distances, 1)] == query_labels)
    assert accuracy > 0.6, accuracy


def test_the_expanded_builder_writes_variations_of_each_splits_own_digits(
    tmp_path, monkeypatch
):
    sizes = {"train": 120, "test": 40}
    monkeypatch.setattr(digits, "EXPANDED_SPLITS", sizes)
    loaded, info = tfds.load(
        "digits_expanded",
        data_dir=str(tmp_path),
        split=["train", "test"],
        with_info=True,
    )
    assert info.features["image"].shape == (28, 28, 1)
    images, labels = digits.load_arrays()
    for name, ds, rows in zip(("train", "test"), loaded, digits.split_indices()):
        assert info.splits[name].num_examples == sizes[name]
        examples = list(tfds.as_numpy(ds))
        built = _counter(
            [ex["image"] for ex in examples], [ex["label"] for ex in examples]
        )
        seed = digits._EXPANDED_SEEDS[name]
        assert built == _counter(
            *digits.expand(images[rows], labels[rows], sizes[name], seed)
        )


def test_dim_tf_opens_digits_without_the_import_hook(tmp_path):
    # The hook `import dim_tf` installs serves users' `tfds.load("digits")`;
    # dim_tf's own dataset opening registers `digits` itself. (A fresh
    # data_dir: TFDS would read a prepared copy without any builder.)
    data_dir = str(tmp_path)
    code = (
        "import sys\n"
        "import dim_tf\n"
        "sys.meta_path[:] = [f for f in sys.meta_path"
        " if type(f).__module__ != 'dim_tf']\n"
        "import tensorflow_datasets as tfds\n"
        "print('digits' in tfds.list_builders(with_community_datasets=False))\n"
        "from dim_tf.input import sources\n"
        f"builder = sources.prepared_builder('digits', {data_dir!r}, None)\n"
        "print(builder.info.splits['test'].num_examples)\n"
    )
    result = processes.run_python("-c", code, timeout=120)
    # TFDS prints its progress on stdout between the two.
    words = result.stdout.split()
    assert (words[:1], words[-1:]) == (["False"], ["360"]), result.stderr[-2000:]
