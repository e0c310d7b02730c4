"""Directory datasets in-process: path rules, layouts, decoding, sharding,
resume, bad input, and an unlabeled folder trained and evaluated."""

import collections
import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf

from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import evaluation, registry, report
from dim_tf.input import eval_sets, folders, image_files, pipeline, settings, sources
from dim_tf.training import loop
from tests import image_folders
from tests.events import event_tags
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow

S = image_folders.SIZE


def _config(path, **overrides):
    return tiny_config(**{"data.dataset": str(path), **overrides})


def _images(dataset):
    """Every image of a batched `(images, labels)` or images dataset, as NumPy."""
    batches = [b[0] if isinstance(b, tuple) else b for b in dataset]
    return np.concatenate([b.numpy() for b in batches])


def _counted(images):
    """How many times each distinct image occurs (some images repeat)."""
    return collections.Counter(
        hashlib.md5(image.tobytes()).hexdigest() for image in images
    )


def _fingerprints(images):
    return {hashlib.md5(image.tobytes()).hexdigest() for image in images}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """One labeled folder, one flat folder and two TFRecord folders."""
    root = tmp_path_factory.mktemp("folders")
    labeled = image_folders.labeled_folder(str(root / "labeled"), train=40, test=20)
    flat = image_folders.flat_folder(str(root / "flat"), 60)
    images, labels = image_folders.digits(30)
    image_folders.write_tfrecord(str(root / "records/train.tfrecord"), images, labels)
    image_folders.write_tfrecord(
        str(root / "records/digits-test.tfrecord-00000-of-00001"),
        images[:10],
        labels[:10],
    )
    image_folders.write_tfrecord(
        str(root / "unlabeled_records/train-0.tfrecord"), images
    )
    return root, labeled, flat


# --- Paths and TFDS names -------------------------------------------------


def test_paths_and_tfds_names_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    for name in ("digits", "imagenet_resized/64x64", "mnist:3.*.*", "cifar10"):
        assert settings.dataset_path(name) is None
        assert not sources.is_directory(name)
    assert settings.dataset_path("photos") == str(tmp_path / "photos")  # exists
    assert settings.dataset_path("./missing") == str(tmp_path / "missing")
    assert settings.dataset_path("../x") == str(tmp_path.parent / "x")
    assert settings.dataset_path("/data/x") == "/data/x"
    assert settings.dataset_path("~/x") == os.path.expanduser("~/x")
    # Recorded absolute, so evaluation finds it from any directory.
    record = config_lib.to_record(_config("photos"))
    assert record["data"]["dataset"] == str(tmp_path / "photos")


def test_a_file_a_missing_path_and_bad_channels_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    for value, reason in (
        ("notes.txt", "is not a directory"),
        ("./x", "does not exist"),
    ):
        with pytest.raises(UserError, match=f"data.dataset '{value}' {reason}"):
            config_lib.check_config(_config(value))
    with pytest.raises(UserError, match="data.channels must be 1 .grey. or 3"):
        config_lib.check_config(_config("digits", **{"data.channels": 2}))


# --- Layouts ----------------------------------------------------------------


def test_a_labeled_folder_has_its_class_folders_as_classes(tree, tmp_path):
    root, labeled, _ = tree
    data = _config(root / "labeled").data
    description = sources.describe(data)
    assert description.raw_image_shape == (None, None, 3)
    assert description.class_names == tuple(str(c) for c in range(10))
    assert (description.eval_train_split, description.eval_split) == ("train", "test")
    ds = eval_sets.make_eval_dataset(data, "test", S, 16)
    labels = np.concatenate([batch_labels.numpy() for _, batch_labels in ds])
    expected = [label for _, label in labeled["test"]]
    assert sorted(labels) == sorted(expected)  # Every file once, with its class.
    # A class missing from one split keeps the index the union gives it.
    partial = tmp_path / "partial"
    image_folders.write_image(f"{partial}/train/cat/a.png", np.zeros([5, 5]))
    image_folders.write_image(f"{partial}/train/dog/a.png", np.zeros([5, 5]))
    image_folders.write_image(f"{partial}/test/dog/a.png", np.zeros([5, 5]))
    partial_data = _config(partial).data
    assert sources.describe(partial_data).class_names == ("cat", "dog")
    _, test_labels = next(iter(eval_sets.make_eval_dataset(partial_data, "test", S, 4)))
    assert test_labels.numpy().tolist() == [1]


def test_a_listing_is_reused_until_the_folders_images_change(tmp_path, monkeypatch):
    checks = []
    check = image_files.checked_images
    monkeypatch.setattr(
        image_files, "checked_images", lambda *a: checks.append(1) or check(*a)
    )
    for name in ("a", "b"):
        image_folders.write_image(f"{tmp_path}/train/cat/{name}.png", np.zeros([5, 5]))
    image_folders.write_image(f"{tmp_path}/test/cat/a.png", np.zeros([5, 5]))
    data = _config(tmp_path).data
    first = folders.open_directory(data)
    assert folders.open_directory(data) is first and len(checks) == 2  # 2 splits.
    # Other settings are another listing.
    other = _config(tmp_path, **{"data.eval_split": "train"}).data
    assert folders.open_directory(other).files.keys() == {"train"}
    # A new image, and a new (empty) class folder, are seen.
    image_folders.write_image(f"{tmp_path}/train/cat/c.png", np.zeros([5, 5]))
    assert len(folders.open_directory(data).files["train"]) == 3
    os.makedirs(tmp_path / "train" / "dog")
    assert folders.open_directory(data).class_names == ("cat", "dog")


def test_a_flat_folder_is_one_unlabeled_split_with_held_out_part(tree):
    root, _, flat = tree
    data = _config(root / "flat").data
    description = sources.describe(data)
    assert description.class_names == ()
    assert description.eval_train_split == "train[fit]"
    assert description.eval_split == "train[held_out]"
    directory = folders.open_directory(data)
    assert sorted(directory.files["train"]) == flat  # Recursive, every format.
    assert image_files.list_images(str(root / "flat")) == flat  # Sorted.
    fit = _images(eval_sets.make_eval_dataset(data, "train[fit]", S, 64))
    held_out, labels = next(
        iter(eval_sets.make_eval_dataset(data, "train[held_out]", S, 64))
    )
    assert len(fit) == 48 and len(held_out) == 12  # Every 5th held out.
    assert not _fingerprints(fit) & _fingerprints(held_out.numpy())
    assert set(labels.numpy()) == {-1}
    # Half of it: the parts are those of the slice.
    half = _config(root / "flat", **{"data.train_split": "train[:50%]"}).data
    assert sources.describe(half).eval_split == "train[:50%][held_out]"
    half_held_out = _images(
        eval_sets.make_eval_dataset(half, "train[:50%][held_out]", S, 64)
    )
    assert len(half_held_out) == 6


def test_tfrecord_folders_labeled_and_not(tree):
    root, _, _ = tree
    data = _config(root / "records").data
    description = sources.describe(data)
    assert description.class_names == tuple(str(c) for c in range(10))
    images, labels = next(iter(eval_sets.make_eval_dataset(data, "test", S, 64)))
    assert images.shape == (10, S, S, 3)
    assert labels.numpy().tolist() == image_folders.digits(10)[1].tolist()
    unlabeled = _config(root / "unlabeled_records").data
    assert sources.describe(unlabeled).class_names == ()
    held_out = _images(eval_sets.make_eval_dataset(unlabeled, "train[held_out]", S, 64))
    assert len(held_out) == 6


def test_split_settings_slice_and_join_split_folders_as_tfds_splits(tree):
    root, _, _ = tree
    overrides = {
        "data.eval_train_split": "train[:80%]",
        "data.eval_split": "train[80%:]",
    }
    data = _config(root / "labeled", **overrides).data
    description = sources.describe(data)
    assert description.class_names == tuple(str(c) for c in range(10))
    assert (description.eval_train_split, description.eval_split) == (
        "train[:80%]",
        "train[80%:]",
    )
    whole = _images(eval_sets.make_eval_dataset(data, "train", S, 64))
    fit = _images(eval_sets.make_eval_dataset(data, "train[:80%]", S, 64))
    held_out, labels = next(
        iter(eval_sets.make_eval_dataset(data, "train[80%:]", S, 64))
    )
    assert (len(whole), len(fit), len(held_out)) == (45, 36, 9)
    # The two slices part the split: every image in exactly one of them.
    assert _counted(fit) + _counted(held_out.numpy()) == _counted(whole)
    assert set(labels.numpy()) <= set(range(10))
    # Joined: both folders' images, labeled.
    joined = _config(root / "labeled", **{"data.eval_split": "train+test"}).data
    test = _images(eval_sets.make_eval_dataset(joined, "test", S, 64))
    both = _images(eval_sets.make_eval_dataset(joined, "train+test", S, 64))
    assert _counted(both) == _counted(whole) + _counted(test)
    # TFRecord splits slice the same way.
    records = _config(root / "records", **{"data.eval_split": "train[20:]"}).data
    _, tail_labels = next(
        iter(eval_sets.make_eval_dataset(records, "train[20:]", S, 64))
    )
    assert tail_labels.numpy().tolist() == image_folders.digits(30)[1][20:].tolist()
    # A slice beyond the examples, or a setting that is not a split.
    beyond = _config(root / "labeled", **{"data.eval_split": "train[:1000]"}).data
    message = _error(beyond)  # Before anything is read or written.
    assert "split 'train[:1000]' does not fit the examples there (train: 45)" in message
    assert "cannot be read" in _error(
        _config(root / "labeled", **{"data.eval_split": "train[abc]"}).data
    )


def test_mixed_sizes_formats_and_channels_decode_to_the_configured_channels(tree):
    root, _, _ = tree
    for channels in (1, 3):
        data = _config(root / "labeled", **{"data.channels": channels}).data
        images = _images(eval_sets.make_eval_dataset(data, "train", S, 64))
        assert images.shape == (45, S, S, channels)  # 40 PNGs + the 5 extras.
        assert images.min() >= -1.0 and images.max() <= 1.0
    # A grey image asked for as RGB has three equal channels.
    grey = image_files.load_images([f"{root}/labeled/train/0/0000.png"], 3, S).numpy()
    assert grey.shape == (1, S, S, 3)
    assert (grey[..., 0] == grey[..., 2]).all()


def test_fit_keeps_the_aspect_ratio_and_takes_the_centre():
    # 20 x 40: black, white, black columns; the central square is white
    # (the antialiasing kernel reaches 2 pixels beyond it).
    image = np.zeros([20, 40, 1], np.uint8)
    image[:, 6:34] = 255
    fitted = image_files.fit(tf.constant(image), 10).numpy()
    assert fitted.shape == (10, 10, 1)
    assert fitted.min() >= 250
    # A batch is fitted exactly as its images one by one (export = pipeline).
    batch = np.random.default_rng(0).integers(0, 256, [2, 33, 47, 3], np.uint8)
    one_by_one = np.stack([image_files.fit(tf.constant(b), 12) for b in batch])
    np.testing.assert_array_equal(image_files.fit(tf.constant(batch), 12), one_by_one)
    assert image_files.stored_size(64, random_crop=True) == 72
    assert image_files.stored_size(64, random_crop=False) == 64


# --- Sharding and resume ----------------------------------------------------


def test_two_input_pipelines_share_the_images_without_overlap(tree):
    root, _, _ = tree
    data = _config(root / "flat").data
    shares = []
    for index in range(2):
        context = tf.distribute.InputContext(2, index, 2)
        ds, listed = folders.read(data, "train", S, context)
        shares.append(_fingerprints(np.stack([e["image"].numpy() for e in ds])))
        assert listed == 30
        batch = next(iter(pipeline.make_train_dataset(data, S, 8, 0, context)))
        assert batch.shape == (4, S, S, 3)  # The per-replica batch.
    everything, _ = folders.read(data, "train", S)
    assert not shares[0] & shares[1]
    assert shares[0] | shares[1] == _fingerprints(
        np.stack([e["image"].numpy() for e in everything])
    )


def test_a_resumed_stream_equals_the_uninterrupted_one(tree):
    root, _, _ = tree
    overrides = {"data.random_crop": True, "data.random_flip": True}
    data = _config(root / "flat", **overrides).data
    # 60 images, 8 per step: step 9 is in the second epoch.
    full = list(pipeline.make_train_dataset(data, S, 8, seed=3).take(10))
    resumed = list(
        pipeline.make_train_dataset(data, S, 8, start_step=6, seed=3).take(4)
    )
    for a, b in zip(full[6:], resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(full[0].numpy(), full[1].numpy())


# --- Bad input: one line each, before anything is decoded ------------------


def _error(data):
    with pytest.raises(UserError) as caught:
        sources.describe(data)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_bad_folders_are_one_line_errors(tree, tmp_path):
    root, _, _ = tree
    (tmp_path / "empty").mkdir()
    assert "holds no images" in _error(_config(tmp_path / "empty").data)

    not_image = tmp_path / "junk"
    image_folders.write_image(f"{not_image}/a.png", np.zeros([4, 4]))
    (not_image / "b.jpg").write_text("not a picture")
    message = _error(_config(not_image).data)
    assert f"{not_image}/b.jpg" in message and "skip_bad_images=True" in message
    workdir = tmp_path / "run"
    with pytest.raises(UserError, match="b.jpg"):
        loop.train(_config(not_image), str(workdir))
    assert not workdir.exists()  # Refused before anything is written.

    missing = _error(_config(root / "labeled", **{"data.eval_split": "val"}).data)
    assert "split 'val' (data.eval_split) is missing" in missing
    assert "present: test, train" in missing

    no_classes = tmp_path / "no_classes"
    image_folders.write_image(f"{no_classes}/train/a.png", np.zeros([4, 4]))
    image_folders.write_image(f"{no_classes}/test/cat/a.png", np.zeros([4, 4]))
    message = _error(_config(no_classes).data)
    assert f"split folder {no_classes}/train has no class folders" in message

    records = tmp_path / "records"
    image_folders.write_tfrecord(f"{records}/train.tfrecord", np.zeros([2, 4, 4]))
    message = _error(_config(records, **{"data.image_key": "pixels"}).data)
    assert "no image bytes under 'pixels' (data.image_key)" in message
    assert "their features: image" in message

    with pytest.raises(UserError, match="is not a directory"):
        folders.open_directory(_config(not_image / "b.jpg").data)


def test_an_image_that_fails_to_decode_is_named_or_skipped(tmp_path, caplog):
    folder = tmp_path / "photos"
    for i in range(6):
        image_folders.write_image(f"{folder}/{i}.png", np.full([9, 9], 20 * i))
    broken = folder / "3.png"
    broken.write_bytes(broken.read_bytes()[:40])  # A PNG header, no image.
    data = _config(folder, **{"data.shuffle_buffer": 8}).data
    with pytest.raises(UserError) as caught:
        from dim_tf.input import read_errors

        with read_errors.reading("training data"):
            list(pipeline.make_train_dataset(data, S, 2).take(6))
    assert str(caught.value).startswith(f"{broken} cannot be decoded as an image")
    skipping = _config(folder, **{"data.skip_bad_images": True}).data
    (folder / "notes.gif").write_text("not a picture")
    with caplog.at_level("WARNING"):
        batches = list(pipeline.make_train_dataset(skipping, S, 5).take(2))
    assert batches[0].shape == (5, S, S, 3)
    assert "Skipping 1 of 7 files" in caplog.text  # notes.gif, found up front
    assert "Skipped 1 of 6 images" in caplog.text  # 3.png, found decoding


# --- Evaluation without labels ----------------------------------------------


def test_a_damaged_test_image_stops_training_with_its_name(tmp_path):
    # The run reads the first test images (for its Y histograms) before it
    # trains: the damaged one is named there, not in a traceback.
    folder = tmp_path / "photos"
    for split, count in (("train", 4), ("test", 2)):
        for i in range(count):
            image_folders.write_image(f"{folder}/{split}/cat/{i}.png", np.zeros([9, 9]))
    broken = folder / "test" / "cat" / "1.png"
    good = broken.read_bytes()
    broken.write_bytes(good[:40])  # A PNG header, no image.
    with pytest.raises(UserError, match="1.png cannot be decoded.*evaluation data"):
        loop.train(_config(folder), str(tmp_path / "run"))
    # The same from the evaluation every `eval.every` steps, which reads the
    # test images after the first batch.
    broken.write_bytes(good)
    for i in range(2, 12):
        image_folders.write_image(f"{folder}/test/cat/{i}.png", np.zeros([9, 9]))
    config = _config(folder, **{"eval.kinds": "linear", "eval.every": 2})
    last = folders.open_directory(config.data).files["test"][-1]  # Not in batch 1.
    with open(last, "rb") as f:
        head = f.read(40)
    with open(last, "wb") as f:
        f.write(head)
    periodic = evaluation.periodic_evaluation(config, str(tmp_path / "run2"))
    name = os.path.basename(last)
    with pytest.raises(UserError, match=f"{name} cannot be decoded.*evaluation data"):
        loop.train(config, str(tmp_path / "run2"), actions=[periodic])


def test_only_label_free_evaluators_run_without_labels():
    assert [registry.needs_labels(n) for n in ("linear", "mlp", "finetune")] == [
        True
    ] * 3
    assert registry.needs_labels("few_labels") and not registry.needs_labels("mi")
    eval_config = tiny_config().eval
    kinds = ("linear", "mlp", "finetune")
    assert len(registry.plan(eval_config, ("y",), kinds, True)) == 7
    label_free = registry.plan(eval_config, ("y",), kinds, True, labeled=False)
    assert [type(e).__module__ for e in label_free] == ["dim_tf.evaluators.mi"]


def test_an_unlabeled_folder_trains_and_evaluates_label_free(tree, tmp_path):
    root, _, _ = tree
    config = _config(
        root / "flat",
        **{
            "eval.kinds": "linear,mlp",
            "eval.mi.mine_steps": 5,
            "eval.mi.ndm_steps": 5,
            "eval.views.projector_examples": 10,
            "eval.views.map_images": 2,
            "eval.views.neighbour_queries": 2,
            "eval.views.neighbours": 2,
            "eval.every": 4,
        },
    )
    workdir = str(tmp_path / "run")
    periodic = evaluation.periodic_evaluation(config, workdir)
    assert loop.train(config, workdir, actions=[periodic]).step == 4
    # During training too, only the label-free measures ran.
    assert set(event_tags(os.path.join(workdir, "eval"))) == {
        "mi/mine",
        "ndm",
        "ndm_sigmoid",
    }
    lines = []
    results = evaluation.evaluate(workdir, log=lines.append)
    skipped = [line for line in lines if "has no labels" in line]
    assert len(skipped) == 1
    assert "skipping linear, mlp, few_labels, random-encoder linear" in skipped[0]
    assert results["probes"] == [] and results["random_encoder"]["probes"] == []
    assert results["class_names"] == []
    assert (results["train_split"], results["split"]) == (
        "train[fit]",
        "train[held_out]",
    )
    assert (results["num_train_examples"], results["num_test_examples"]) == (48, 12)
    assert np.isfinite([results["mine"], results["ndm"], results["ndm_sigmoid"]]).all()
    eval_dir = os.path.join(workdir, "eval")
    assert os.path.exists(os.path.join(eval_dir, "neighbours.png"))
    assert os.path.exists(os.path.join(eval_dir, "projector_y.tsv"))
    assert not os.path.exists(os.path.join(eval_dir, "projector_metadata.tsv"))
    assert report.format_table(results).startswith(
        "No probes (the dataset has no labels)"
    )
