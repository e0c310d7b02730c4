"""dim_tf.input.sources (finding, preparing, metadata), pipeline, eval_sets and model_input:
the real TFDS loading code on `digits` and on tfds.testing.mock_data."""

import collections
import functools
import socket

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf import config as config_lib
from dim_tf.errors import UserError
from dim_tf.input import eval_sets, model_input, pipeline, sources
from tests import strategies

NUM_TRAIN = 1437  # digits train split


def _config(dataset="digits", data_dir=None, split="train"):
    config = config_lib.default_config()
    config.data.dataset = dataset
    config.data.data_dir = data_dir
    config.data.train_split = split
    config.data.shuffle_buffer = 64
    return config


def _train_dataset(config, *args, **kwargs):
    """`make_train_dataset` of a whole config, as the training loop calls it."""
    return pipeline.make_train_dataset(
        config.data, *args, seed=config.train.seed, **kwargs
    )


def _eval_dataset(config, *args):
    return eval_sets.make_eval_dataset(config.data, *args)


def _numpy(ds, n):
    return list(ds.take(n).as_numpy_iterator())


@functools.cache
def _raw(data_dir, split="train"):
    """Stored digits of `split` in file order: uint8 [N, 8, 8, 1], labels [N]."""
    ds = tfds.load("digits", split=split, data_dir=data_dir, shuffle_files=False)
    examples = list(tfds.as_numpy(ds))
    return (
        np.stack([ex["image"] for ex in examples]),
        np.array([ex["label"] for ex in examples]),
    )


def _scaled(images_uint8):
    return images_uint8.astype(np.float32) / 127.5 - 1.0


def _counter(images):
    return collections.Counter(image.tobytes() for image in images)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    """A data_dir with `digits` prepared through `dataset_info` (one file a split)."""
    path = str(tmp_path_factory.mktemp("tfds"))
    sources.dataset_info("digits", path)
    return path


@pytest.fixture(scope="module")
def digits_4_files_dir(tmp_path_factory):
    """A data_dir with `digits` written as four files per split."""
    path = str(tmp_path_factory.mktemp("tfds4"))
    builder = tfds.builder("digits", data_dir=path)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(num_shards=4)
    )
    assert builder.info.splits["train"].num_shards == 4
    return path


@pytest.fixture
def mock_tfds():
    with tfds.testing.mock_data(
        num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        yield


def _user_error(fn, *args, **kwargs):
    """The UserError `fn` raises, checked to be one line."""
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


# --- metadata -----------------------------------------------------------------


def test_digits_metadata(digits_dir):
    info = sources.dataset_info("digits", digits_dir)
    assert sources.image_shape(info) == (8, 8, 1)
    assert sources.num_classes(info) == 10
    assert sources.class_names(info) == [str(i) for i in range(10)]


@pytest.mark.parametrize(
    "name, shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))]
)
def test_mock_metadata(mock_tfds, tmp_path, name, shape):
    info = sources.dataset_info(name, str(tmp_path))
    assert sources.image_shape(info) == shape
    assert sources.num_classes(info) == 10


# --- training stream ----------------------------------------------------------


@pytest.mark.parametrize(
    "name, split, image_size, channels, random_crop",
    [
        ("mnist", "train", 32, 1, False),  # grayscale, resized up
        ("cifar10", "train", 32, 3, False),  # RGB, stored size
        ("cifar10", "train", 24, 3, True),  # random crops
        ("stl10", "train+unlabelled", 64, 3, False),  # resized down
        ("stl10", "unlabelled", 64, 3, True),
    ],
)
def test_mock_train_batches(mock_tfds, name, split, image_size, channels, random_crop):
    config = _config(name, split=split)
    config.data.random_crop = random_crop
    config.data.random_flip = True
    ds = _train_dataset(config, image_size, global_batch_size=8)
    assert ds.element_spec == tf.TensorSpec(
        [8, image_size, image_size, channels], tf.float32
    )
    batches = _numpy(ds, 4)  # 32 elements: past the end of the 20 examples
    for batch in batches:
        assert batch.shape == (8, image_size, image_size, channels)
        assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert np.ptp(np.stack(batches)) > 1.0


def test_train_images_are_stored_pixels_scaled(digits_dir):
    config = _config(data_dir=digits_dir)
    config.data.shuffle_buffer = 1  # keeps file order
    (batch,) = _numpy(_train_dataset(config, 8, 16), 1)
    images, _ = _raw(digits_dir)
    np.testing.assert_array_equal(batch, _scaled(images[:16]))
    assert batch.min() == -1.0 and batch.max() == 1.0


def _file_order(data_dir):
    """Stored train images one file after another (no interleave), uint8."""
    builder = tfds.builder("digits", data_dir=data_dir)
    ds = builder.as_dataset(
        split="train",
        shuffle_files=False,
        read_config=tfds.ReadConfig(interleave_cycle_length=1),
    )
    return np.stack([ex["image"] for ex in tfds.as_numpy(ds)])


def _positions(batch, data_dir):
    """Each image's position in file order (the first, for duplicates)."""
    order = {}
    for i, image in enumerate(_scaled(_file_order(data_dir))):
        order.setdefault(image.tobytes(), i)
    return np.array([order[image.tobytes()] for image in batch])


def test_the_default_is_a_full_shuffle_of_the_cached_split(digits_dir):
    config = _config(data_dir=digits_dir)
    config.data.shuffle_buffer = None  # The default: the whole split.
    assert pipeline.shuffle_buffer_size(config.data, NUM_TRAIN) == NUM_TRAIN
    (batch,) = _numpy(_train_dataset(config, 8, 64), 1)
    positions = _positions(batch, digits_dir)
    # A 64-image buffer could only reach the first 127 images; a full shuffle
    # draws from the whole split.
    assert np.mean(positions >= NUM_TRAIN // 10) > 0.75
    assert positions.max() > NUM_TRAIN // 2
    np.testing.assert_array_equal(batch, _numpy(_train_dataset(config, 8, 64), 1)[0])
    config.train.seed = 1
    assert not np.array_equal(batch, _numpy(_train_dataset(config, 8, 64), 1)[0])


def test_shuffle_buffer_defaults_and_explicit_values():
    data = _config().data
    data.shuffle_buffer = None
    data.cache = False  # Read from disk each epoch: a bounded buffer.
    assert pipeline.shuffle_buffer_size(data, 50_000) == 10_000
    assert pipeline.shuffle_buffer_size(data, 300) == 300
    data.shuffle_buffer = 7
    assert pipeline.shuffle_buffer_size(data, 50_000) == 7


def test_a_partial_shuffle_interleaves_the_files(digits_4_files_dir):
    # STL-10's "train+unlabelled" lists one split's files after the other's:
    # with a buffer smaller than the split, the files are read in turn.
    config = _config(data_dir=digits_4_files_dir)
    config.data.shuffle_buffer = 1  # No shuffle at all: the read order shows.
    (batch,) = _numpy(_train_dataset(config, 8, 8), 1)
    files = _positions(batch, digits_4_files_dir) * 4 // NUM_TRAIN
    assert set(files.tolist()) == {0, 1, 2, 3}
    # Deterministic, so a resumed run sees the same stream.
    reference = _numpy(_train_dataset(config, 8, 8), 5)
    np.testing.assert_array_equal(
        _numpy(_train_dataset(config, 8, 8, 3), 2), reference[3:5]
    )


def test_epochs_are_reshuffled_permutations(digits_dir):
    config = _config(data_dir=digits_dir)
    config.data.shuffle_buffer = 10_000
    batches = _numpy(_train_dataset(config, 8, NUM_TRAIN // 3), 6)
    epochs = [np.concatenate(batches[:3]), np.concatenate(batches[3:])]
    everything = _counter(_scaled(_raw(digits_dir)[0]))
    assert _counter(epochs[0]) == everything == _counter(epochs[1])
    assert not np.array_equal(epochs[0], epochs[1])


def _augmenting_config(data_dir):
    config = _config(data_dir=data_dir)
    config.data.random_crop = True
    config.data.random_flip = True
    return config


@pytest.fixture(scope="module")
def uninterrupted(digits_dir):
    """The first 33 batches of 64 from step 0, crops and flips on."""
    return _numpy(_train_dataset(_augmenting_config(digits_dir), 6, 64), 33)


@pytest.mark.parametrize("resume_step", [1, 21, 22, 23, 30])
def test_resume_sees_the_uninterrupted_batches(digits_dir, uninterrupted, resume_step):
    # Epoch 1 starts inside step 22 (1437 = 22 * 64 + 29).
    config = _augmenting_config(digits_dir)
    resumed = _numpy(_train_dataset(config, 6, 64, start_step=resume_step), 3)
    for offset, batch in enumerate(resumed):
        np.testing.assert_array_equal(batch, uninterrupted[resume_step + offset])


def test_stream_depends_on_seed_not_on_cache(digits_dir):
    config = _config(data_dir=digits_dir)
    first = _numpy(_train_dataset(config, 8, 32), 2)
    config.data.cache = False
    np.testing.assert_array_equal(first, _numpy(_train_dataset(config, 8, 32), 2))
    config.train.seed = 1
    assert not np.array_equal(first, _numpy(_train_dataset(config, 8, 32), 2))


def test_stream_ignores_the_global_seed(digits_dir, uninterrupted):
    config = _augmenting_config(digits_dir)
    try:
        for global_seed in (0, 123):  # TF rejects tensor shuffle seeds under 0.
            tf.random.set_seed(global_seed)
            batches = _numpy(_train_dataset(config, 6, 64, 21), 3)
            np.testing.assert_array_equal(batches, uninterrupted[21:24])
    finally:
        tf.random.set_seed(None)


def test_random_crops_are_windows_at_varying_offsets(digits_dir):
    config = _config(data_dir=digits_dir)
    config.data.shuffle_buffer = 1
    config.data.random_crop = True
    (batch,) = _numpy(_train_dataset(config, 5, 64), 1)
    images = _scaled(_raw(digits_dir)[0][:64])
    offsets = set()
    for crop, image in zip(batch, images):
        matches = [
            (top, left)
            for top in range(4)
            for left in range(4)
            if np.array_equal(crop, image[top : top + 5, left : left + 5])
        ]
        assert matches
        offsets.update(matches)
    assert len(offsets) > 4


def test_random_flips_mirror_some_images(digits_dir):
    config = _config(data_dir=digits_dir)
    config.data.shuffle_buffer = 1
    config.data.random_flip = True
    (batch,) = _numpy(_train_dataset(config, 8, 64), 1)
    images = _scaled(_raw(digits_dir)[0][:64])
    flipped = [not np.array_equal(out, image) for out, image in zip(batch, images)]
    for out, image, was_flipped in zip(batch, images, flipped):
        np.testing.assert_array_equal(out, image[:, ::-1] if was_flipped else image)
    assert 10 < sum(flipped) < 54


# --- sharding over input pipelines ---------------------------------------------


def _context(pipeline, pipelines=2, replicas=2):
    return tf.distribute.InputContext(
        num_input_pipelines=pipelines,
        input_pipeline_id=pipeline,
        num_replicas_in_sync=replicas,
    )


@pytest.mark.parametrize("layout", ["examples", "files"])
def test_two_pipelines_read_disjoint_halves(digits_dir, digits_4_files_dir, layout):
    # One file per split: examples are dealt out; four files: files are (0+2, 1+3).
    data_dir = digits_dir if layout == "examples" else digits_4_files_dir
    config = _config(data_dir=data_dir)
    halves = []
    for worker, size in ((0, 719), (1, 718)):
        ds = _train_dataset(config, 8, 2, input_context=_context(worker))
        assert ds.element_spec.shape == (1, 8, 8, 1)
        halves.append(np.concatenate(_numpy(ds, size)))
    everything = _counter(_scaled(_raw(data_dir)[0]))
    assert _counter(halves[0]) + _counter(halves[1]) == everything
    assert len(halves[0]) + len(halves[1]) == NUM_TRAIN


def test_mock_two_pipelines_split_examples(mock_tfds):
    config = _config("cifar10")
    halves = [
        np.concatenate(
            _numpy(
                _train_dataset(config, 32, 2, input_context=_context(i)),
                10,
            )
        )
        for i in range(2)
    ]
    assert not set(_counter(halves[0])) & set(_counter(halves[1]))


def test_sharded_resume(digits_4_files_dir):
    config = _config(data_dir=digits_4_files_dir)
    for worker in range(2):
        context = _context(worker)
        reference = _numpy(_train_dataset(config, 8, 128, 0, context), 14)
        resumed = _numpy(_train_dataset(config, 8, 128, 11, context), 3)
        np.testing.assert_array_equal(resumed, reference[11:14])


def test_one_pipeline_feeding_two_replicas_resumes_at_the_right_place(digits_dir):
    # MirroredStrategy: one pipeline yields a batch for each replica every step.
    config = _config(data_dir=digits_dir)
    context = _context(0, pipelines=1, replicas=2)
    reference = _numpy(_train_dataset(config, 8, 64, 0, context), 30)
    resumed = _numpy(_train_dataset(config, 8, 64, 12, context), 2)
    assert reference[0].shape == (32, 8, 8, 1)
    np.testing.assert_array_equal(resumed, reference[24:26])


def test_mirrored_strategy_replicas_get_consecutive_batches(digits_dir):
    strategy = strategies.two_replicas()
    config = _config(data_dir=digits_dir)
    plain = _numpy(_train_dataset(config, 8, 32), 30)
    distributed = strategy.distribute_datasets_from_function(
        lambda context: _train_dataset(config, 8, 64, 12, context)
    )
    replicas = strategy.experimental_local_results(next(iter(distributed)))
    np.testing.assert_array_equal(replicas[0], plain[24])
    np.testing.assert_array_equal(replicas[1], plain[25])


# --- evaluation sets ------------------------------------------------------------


def test_eval_is_ordered_complete_and_unaugmented(digits_dir):
    config = _config(data_dir=digits_dir)
    config.data.random_flip = True
    ds = _eval_dataset(config, "test", 8, 64)
    assert ds.element_spec == (
        tf.TensorSpec([None, 8, 8, 1], tf.float32),
        tf.TensorSpec([None], tf.int32),
    )
    batches = list(ds.as_numpy_iterator())
    assert [len(labels) for _, labels in batches] == [64] * 5 + [40]
    images, labels = _raw(digits_dir, "test")
    np.testing.assert_array_equal(
        np.concatenate([b[0] for b in batches]), _scaled(images)
    )
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), labels)
    again = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal(again[-1][0], batches[-1][0])


def test_eval_split_expressions(digits_dir):
    config = _config(data_dir=digits_dir)
    for split, size in (
        ("train[:10%]", 144),
        ("train+test", 1797),
        ("test[10:20]", 10),
    ):
        ds = _eval_dataset(config, split, 8, 1000)
        assert sum(len(labels) for _, labels in ds.as_numpy_iterator()) == size


@pytest.mark.parametrize(
    "name, image_size, random_crop, shape",
    [
        ("mnist", 32, False, (32, 32, 1)),
        ("cifar10", 32, True, (32, 32, 3)),
        ("stl10", 64, True, (64, 64, 3)),
        ("stl10", 64, False, (64, 64, 3)),
    ],
)
def test_mock_eval(mock_tfds, name, image_size, random_crop, shape):
    config = _config(name)
    config.data.random_crop = random_crop
    batches = list(_eval_dataset(config, "test", image_size, 8))
    assert [int(labels.shape[0]) for _, labels in batches] == [8, 8, 4]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape[1:] == shape and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert labels.dtype == np.int32 and labels.min() >= 0 and labels.max() < 10
    if name == "stl10" and random_crop:  # center crop, no resize
        raw = [ex["image"] for ex in tfds.as_numpy(tfds.load(name, split="test"))]
        np.testing.assert_array_equal(images, _scaled(np.stack(raw)[:, 16:80, 16:80]))


# --- the shared transform -------------------------------------------------------


def test_model_input_scaling_and_resizing():
    images = np.array([0, 255], np.uint8).reshape(2, 1, 1, 1) * np.ones(
        (1, 4, 4, 3), np.uint8
    )
    same = model_input.raw_images_to_model_input(images, 4).numpy()
    np.testing.assert_array_equal(same[0], -np.ones((4, 4, 3)))
    np.testing.assert_array_equal(same[1], np.ones((4, 4, 3)))
    bigger = model_input.raw_images_to_model_input(images, 9)
    assert bigger.shape == (2, 9, 9, 3) and bigger.dtype == tf.float32
    np.testing.assert_allclose(bigger.numpy()[1], 1.0)


def test_model_input_center_crop():
    images = np.arange(2 * 6 * 6 * 1, dtype=np.uint8).reshape(2, 6, 6, 1)
    crop = model_input.raw_images_to_model_input(images, 4, center_crop=True).numpy()
    np.testing.assert_array_equal(crop, _scaled(images[:, 1:5, 1:5]))
    # Smaller than S: nothing to crop, so it is resized like without cropping.
    small = model_input.raw_images_to_model_input(images, 8, center_crop=True)
    np.testing.assert_array_equal(
        small, model_input.raw_images_to_model_input(images, 8)
    )


@pytest.mark.parametrize("center_crop", [False, True])
def test_model_input_with_unknown_sizes(center_crop):
    fn = tf.function(
        lambda x: model_input.raw_images_to_model_input(x, 5, center_crop),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
    )
    images = np.random.default_rng(0).integers(0, 256, (2, 7, 9, 3), np.uint8)
    out = fn(images)
    assert out.shape == (2, 5, 5, 3)
    static = model_input.raw_images_to_model_input(images, 5, center_crop)
    np.testing.assert_allclose(out, static, atol=1e-6)


# --- user errors ------------------------------------------------------------------


def test_unknown_dataset_suggests_close_names(tmp_path):
    message = _user_error(sources.dataset_info, "mnistt", str(tmp_path))
    assert "'mnistt'" in message and "mnist" in message
    assert "tfds.list_builders()" in message
    for name in ("", None):  # Users meet `data.dataset`'s config check first.
        with pytest.raises(ValueError, match="TFDS name"):
            sources.dataset_info(name, str(tmp_path))
    message = _user_error(sources.dataset_info, "cifar10/no_such_config", str(tmp_path))
    assert "name[/config][:version]" in message and "versions: " in message


def test_not_prepared_and_offline(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    message = _user_error(sources.dataset_info, "mnist", str(tmp_path / "tfds"))
    assert "manual_dir" in message and "BUILD.md" in message
    assert "train-images-idx3-ubyte.gz" in message


def test_failed_build_is_one_line_and_uses_manual_dir(tmp_path, monkeypatch):
    calls = []

    def failing_download_and_prepare(self, download_config=None, **kwargs):
        calls.append(download_config.manual_dir)
        raise ConnectionError("HTTPSConnectionPool(...)\nnested\ndetails")

    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", failing_download_and_prepare
    )
    manual = tmp_path / "manual"
    manual.mkdir()
    message = _user_error(
        sources.dataset_info, "cifar10", str(tmp_path / "tfds"), str(manual)
    )
    assert calls == [str(manual)]
    assert "manual_dir" in message and "ConnectionError" in message
    assert "nested" not in message


def test_a_run_that_loses_the_race_to_build_uses_the_winners_copy(
    tmp_path, monkeypatch
):
    # Two runs building `digits` at once: the other one renames its copy into
    # place first, this one's rename then fails as TFDS's does.
    data_dir = str(tmp_path / "tfds")
    real_download_and_prepare = vars(tfds.core.DatasetBuilder)["download_and_prepare"]

    def beaten_download_and_prepare(self, download_config=None, **kwargs):
        real_download_and_prepare(tfds.builder("digits", data_dir=data_dir))
        raise FileExistsError("Cannot rename incomplete.X_1.0.0: 1.0.0 exists")

    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", beaten_download_and_prepare
    )
    builder = sources.prepared_builder("digits", data_dir, None)
    assert builder.is_prepared()
    assert builder.info.splits["test"].num_examples == 360


def test_a_failed_build_that_nobody_finished_is_still_an_error(tmp_path, monkeypatch):
    def failing(self, download_config=None, **kwargs):
        raise FileExistsError("Cannot rename incomplete.X_1.0.0: 1.0.0 exists")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", failing)
    message = _user_error(sources.dataset_info, "digits", str(tmp_path / "tfds"))
    assert "cannot be built (FileExistsError" in message


def test_bad_directories(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for data_dir in ("", "  "):  # Users meet `data.data_dir`'s config check first.
        with pytest.raises(ValueError, match="data_dir .* directory"):
            sources.dataset_info("digits", data_dir)
    for data_dir in (str(a_file), str(a_file / "sub")):
        message = _user_error(sources.dataset_info, "digits", data_dir)
        assert "data_dir" in message and "directory" in message
    message = _user_error(
        sources.dataset_info, "digits", str(tmp_path / "d"), str(tmp_path / "nope")
    )
    assert "manual_dir" in message and "does not exist" in message


@pytest.mark.parametrize("split", ["validation", "train+validation", "train[:abc]"])
def test_unknown_split_names_the_available_ones(digits_dir, split):
    config = _config(data_dir=digits_dir, split=split)
    for call in (
        lambda: _train_dataset(config, 8, 4),
        lambda: _eval_dataset(config, split, 8, 4),
    ):
        message = _user_error(call)
        assert repr(split) in message and "train, test" in message


def test_missing_feature_keys_name_the_available_ones(digits_dir):
    config = _config(data_dir=digits_dir)
    config.data.image_key = "img"
    message = _user_error(_train_dataset, config, 8, 4)
    assert "'img'" in message and "image, label" in message
    config = _config(data_dir=digits_dir)
    config.data.label_key = "y"
    message = _user_error(_eval_dataset, config, "test", 8, 4)
    assert "'y'" in message and "image, label" in message
    info = sources.dataset_info("digits", digits_dir)
    assert "ClassLabel" in _user_error(sources.num_classes, info, "image")
    assert "[H, W, C]" in _user_error(sources.image_shape, info, "label")


def test_bad_batch_and_empty_split(digits_dir):
    config = _config(data_dir=digits_dir)
    context = _context(0, pipelines=1, replicas=2)
    # Users meet `check_replicas` first.
    with pytest.raises(ValueError, match="divisible"):
        _train_dataset(config, 8, 3, input_context=context)
    config.data.train_split = "train[:0]"
    assert "no examples" in _user_error(_train_dataset, config, 8, 4)
