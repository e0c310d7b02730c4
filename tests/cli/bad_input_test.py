"""Damaged data, a bad data_dir and malformed TF_CONFIGs: one-line errors, nothing
written (bin/train processes for the damaged data and a broken TF_CONFIG)."""

import glob
import os
import shutil

import pytest
import tensorflow as tf

from dim_tf.errors import UserError
from dim_tf.evaluators import evaluation, report
from dim_tf.training import loop, strategies
from tests import processes, tiny
from tests.tiny import tiny_config, tiny_eval_config

pytestmark = pytest.mark.slow


def test_damaged_training_data_stops_with_one_line_and_keeps_the_checkpoint(
    data_dir, tmp_path
):
    damaged_dir = str(tmp_path / "tfds")
    shutil.copytree(data_dir, damaged_dir)
    workdir = str(tmp_path / "run")

    def args(steps, data_dir):
        return processes.train_args(
            workdir,
            data_dir,
            f"--config.train.steps={steps}",
            "--config.train.steps_per_call=2",
            "--config.train.checkpoint_every=2",
            "--config.train.log_every=2",
        )

    # The run that leaves a checkpoint needs no process of its own.
    loop.train(
        tiny.quickstart_config(
            damaged_dir,
            **{
                "train.steps": 2,
                "train.steps_per_call": 2,
                "train.checkpoint_every": 2,
                "train.log_every": 2,
            },
        ),
        workdir,
    )
    (records,) = glob.glob(os.path.join(damaged_dir, "digits", "*", "*-train.*"))
    os.truncate(records, 100)  # Fails in the first batch after the restore.

    result = processes.run(args(200, damaged_dir))

    processes.assert_one_line_error(result, "training data cannot be read", "truncated")
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    assert latest.endswith("ckpt-2")


def test_data_dir_that_is_a_file_is_refused_before_anything_is_written(tmp_path):
    not_a_dir = tmp_path / "tfds"
    not_a_dir.write_text("")
    with pytest.raises(UserError, match="data_dir .* not a directory"):
        loop.train(
            tiny_config(**{"data.data_dir": str(not_a_dir)}), str(tmp_path / "run")
        )
    assert not (tmp_path / "run").exists()


def test_malformed_tf_config_is_one_line_from_bin_train(data_dir, tmp_path):
    args = processes.train_args(
        str(tmp_path / "run"), data_dir, "--config.strategy=multi_worker"
    )
    broken = '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": '
    result = processes.run(args, TF_CONFIG=broken)
    processes.assert_one_line_error(result, "TF_CONFIG is malformed")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "tf_config,fragment",
    [
        (None, "needs the TF_CONFIG environment variable"),
        ('{"cluster": {"worker": ["h:1"]}}', "TF_CONFIG is malformed (KeyError"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"index": 0}}', "task.type"),
        (
            '{"cluster": {"worker": "h:1"}, "task": {"type": "worker", "index": 0}}',
            "a list",
        ),
        (
            '{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}',
            "out of range",
        ),
    ],
)
def test_tf_config_checks_name_the_problem(monkeypatch, tf_config, fragment):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserError) as raised:
        strategies.check_tf_config()
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_complete_tf_config_passes(monkeypatch):
    tf_config = '{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 1}}'
    monkeypatch.setenv("TF_CONFIG", tf_config)
    strategies.check_tf_config()


def _make_images_undecodable(data_dir):
    """Replaces every digits train image in `data_dir` with bytes that are no image.

    The records stay well-formed (same count, valid protos): only decoding
    the `image` feature fails.
    """
    (path,) = glob.glob(os.path.join(data_dir, "digits", "*", "*-train.*"))
    records = []
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        example = tf.train.Example.FromString(raw)
        image = example.features.feature["image"].bytes_list.value
        image[:] = [b"these bytes are not an image"]
        records.append(example.SerializeToString())
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


def test_an_image_that_cannot_be_decoded_is_a_one_line_error(data_dir, tmp_path):
    damaged = str(tmp_path / "tfds")
    shutil.copytree(data_dir, damaged)
    _make_images_undecodable(damaged)
    with pytest.raises(UserError) as raised:
        loop.train(tiny_config(**{"data.data_dir": damaged}), str(tmp_path / "run"))
    message = str(raised.value)
    assert "training data cannot be read (InvalidArgumentError" in message
    assert "Unknown image file format" in message  # The reason, not TF's plumbing.
    assert "\n" not in message


def test_evaluating_on_undecodable_images_is_one_line_and_writes_nothing(
    data_dir, tmp_path
):
    copy = str(tmp_path / "tfds")
    shutil.copytree(data_dir, copy)
    workdir = str(tmp_path / "run")
    loop.train(tiny_eval_config(copy), workdir)
    _make_images_undecodable(copy)

    with pytest.raises(UserError) as raised:
        evaluation.evaluate(workdir)
    message = str(raised.value)
    assert "evaluation data cannot be read (InvalidArgumentError" in message
    assert "Unknown image file format" in message and "\n" not in message
    assert not os.path.exists(os.path.join(workdir, report.RESULTS_FILE))
