"""`data.cache` is refused, in one line, when the cache would not fit in memory."""

import os

import pytest

from dim_tf.errors import UserError
from dim_tf.input import cache_memory, pipeline, sources
from tests import image_folders, processes
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow

S = image_folders.SIZE
FEW_KB = 4096


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cache") / "flat")
    image_folders.flat_folder(root, 12)
    return root


def _available(monkeypatch, available):
    monkeypatch.setattr(cache_memory, "available_bytes", lambda: available)


def test_a_cache_larger_than_half_the_memory_is_refused_with_its_numbers(
    folder, monkeypatch
):
    _available(monkeypatch, FEW_KB)
    # Random crops cache S + S // 8 = 31 pixel squares: 12 x 31 x 31 x 3 bytes.
    data = tiny_config(**{"data.dataset": folder, "data.random_crop": True}).data
    with pytest.raises(UserError) as caught:
        pipeline.make_train_dataset(data, S, 4)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "data.cache=True would keep 12 images of 31x31x3 (34.6 KB) in memory, "
        "more than 50% of the 4.1 KB available; set --config.data.cache=False"
    ), message


def test_enough_memory_or_no_cache_trains(folder, monkeypatch):
    data = tiny_config(**{"data.dataset": folder}).data
    _available(monkeypatch, 2 * 12 * S * S * 3)
    assert next(iter(pipeline.make_train_dataset(data, S, 4))).shape[0] == 4
    _available(monkeypatch, FEW_KB)
    uncached = tiny_config(**{"data.dataset": folder, "data.cache": False}).data
    assert next(iter(pipeline.make_train_dataset(uncached, S, 4))).shape[0] == 4


def test_a_tfds_split_is_checked_at_its_stored_shape(data_dir, monkeypatch):
    _available(monkeypatch, FEW_KB)
    data = tiny_config(**{"data.data_dir": data_dir}).data
    info = sources.dataset_info(data.dataset, data_dir)
    height, width, channels = sources.image_shape(info, data.image_key)
    examples = sources.split_info(info, data.train_split).num_examples
    with pytest.raises(UserError) as caught:
        pipeline.make_train_dataset(data, S, 4)
    assert f"keep {examples:,} images of {height}x{width}x{channels} (" in str(
        caught.value
    )


def test_available_memory_is_read_from_meminfo_or_unknown(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  8000 kB\nMemAvailable:    2048 kB\n")
    monkeypatch.setattr(cache_memory, "MEMINFO", str(meminfo))
    assert cache_memory.available_bytes() == 2048 * 1024
    monkeypatch.setattr(cache_memory, "MEMINFO", str(tmp_path / "missing"))
    assert cache_memory.available_bytes() is None
    # Unknown memory, count or size: no check.
    cache_memory.check(10**9, (224, 224, 3))
    _available(monkeypatch, FEW_KB)
    cache_memory.check(-2, (224, 224, 3))
    cache_memory.check(10**9, (None, None, 3))


def test_bin_train_stops_with_one_error_line(data_dir, tmp_path):
    workdir = tmp_path / "run"
    # bin/train's own start-up, with the available memory set to a few KB.
    code = (
        "import sys; sys.path[:0] = ['bin']; import _launch; "
        "from dim_tf.input import cache_memory; "
        f"cache_memory.available_bytes = lambda: {FEW_KB}; "
        "from dim_tf.cli import train; sys.argv[0] = 'bin/train'; train.main()"
    )
    args = processes.train_args(workdir, data_dir)[2:]
    result = processes.run_python("-c", code, *args)
    processes.assert_one_line_error(
        result, "data.cache=True would keep", "--config.data.cache=False"
    )
    assert not os.path.exists(workdir / "checkpoints")
    # No config.json: a rerun with --config.data.cache=False may use the workdir.
    assert not os.path.exists(workdir / "config.json")
