"""Checkpointer: damaged checkpoints refused untouched, fallbacks, workers' dirs."""

import glob
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile

import pytest
import tensorflow as tf

from dim_tf.errors import TrainingError, UserError
from dim_tf.input import sources
from dim_tf.training import loop, runs
from dim_tf.training.checkpoints import Checkpointer
from tests import processes, tiny
from tests.tiny import TINY_EVAL

pytestmark = pytest.mark.slow


def _items(value=0.0):
    return {
        "w": tf.Variable(tf.fill([64, 64], value)),
        "step": tf.Variable(0, dtype=tf.int64),
    }


def _saved_run(directory, steps=(2, 4)):
    """A checkpoint directory with one checkpoint per step, w = step."""
    items = _items()
    checkpointer = Checkpointer(directory, items)
    for step in steps:
        items["w"].assign(tf.fill([64, 64], float(step)))
        items["step"].assign(step)
        checkpointer.save()
    return directory


def _fingerprint(directory):
    digests = {}
    for path in sorted(glob.glob(os.path.join(directory, "**"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                digests[os.path.relpath(path, directory)] = hashlib.sha256(
                    f.read()
                ).hexdigest()
    return digests


def _garble(path):
    with open(path, "r+b") as f:
        content = bytearray(f.read())
        for i in range(len(content) // 4, len(content) // 2):
            content[i] ^= 0x5A
        f.seek(0)
        f.write(content)


def _truncate(path):
    os.truncate(path, os.path.getsize(path) // 2)


def _damage_state(path):
    with open(path, "w") as f:
        f.write('model_checkpoint_path: "ckpt-4\n')


DAMAGES = {
    "garbled data": ("ckpt-4.data-00000-of-00001", _garble, "ckpt-4"),
    "truncated data": ("ckpt-4.data-00000-of-00001", _truncate, "ckpt-4"),
    "truncated index": ("ckpt-4.index", _truncate, "ckpt-4"),
    "damaged state file": ("checkpoint", _damage_state, "damaged"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_checkpoint_is_one_line_error_and_changes_nothing(damage, tmp_path):
    directory = _saved_run(str(tmp_path / "checkpoints"))
    name, corrupt, fragment = DAMAGES[damage]
    corrupt(os.path.join(directory, name))
    before = _fingerprint(directory)

    with pytest.raises(UserError) as err:
        Checkpointer(directory, _items()).restore_latest()

    message = str(err.value)
    assert fragment in message and "\n" not in message
    if name != "checkpoint":
        assert "resume from ckpt-2" in message
    assert _fingerprint(directory) == before


def test_moving_the_latest_away_resumes_from_the_one_before(tmp_path):
    directory = _saved_run(str(tmp_path / "checkpoints"))
    for path in glob.glob(os.path.join(directory, "ckpt-4.*")):
        os.remove(path)
    items = _items()
    path = Checkpointer(directory, items).restore_latest()
    assert path.endswith("ckpt-2") and int(items["step"].numpy()) == 2


def test_without_a_state_file_the_newest_complete_checkpoint_is_restored(tmp_path):
    directory = _saved_run(str(tmp_path / "checkpoints"), steps=(2, 4, 6))
    os.remove(os.path.join(directory, "checkpoint"))
    os.remove(glob.glob(os.path.join(directory, "ckpt-6.data-*"))[0])  # Incomplete.
    items = _items()
    assert Checkpointer(directory, items).restore_latest().endswith("ckpt-4")
    assert float(items["w"][0, 0]) == 4.0


def test_a_save_interrupted_by_a_kill_leaves_only_a_temp_dir_that_is_removed(
    tmp_path,
):
    directory = _saved_run(str(tmp_path / "checkpoints"))
    orphan = os.path.join(directory, "ckpt-6_temp")
    os.makedirs(orphan)
    with open(os.path.join(orphan, "part-00000-of-00001.index"), "w") as f:
        f.write("half")
    checkpointer = Checkpointer(directory, _items())
    assert not os.path.exists(orphan)
    assert checkpointer.restore_latest().endswith("ckpt-4")


def test_a_save_that_cannot_be_written_is_one_line_and_keeps_the_others(tmp_path):
    directory = _saved_run(str(tmp_path / "checkpoints"))
    before = _fingerprint(directory)
    items = _items()
    checkpointer = Checkpointer(directory, items)
    # A file where the save must create its directory: the write fails in
    # TensorFlow as on a full disk or a lost mount.
    with open(os.path.join(directory, "ckpt-6_temp"), "w") as f:
        f.write("in the way")
    items["step"].assign(6)
    with pytest.raises(TrainingError) as raised:
        checkpointer.save()
    message = str(raised.value)
    assert message.startswith("checkpoint ckpt-6 cannot be written to ")
    assert "the last complete checkpoint, ckpt-4, is kept" in message
    assert "\n" not in message
    os.remove(os.path.join(directory, "ckpt-6_temp"))
    assert _fingerprint(directory) == before
    assert Checkpointer(directory, _items()).restore_latest().endswith("ckpt-4")


def test_a_worker_restores_from_the_workdir_and_saves_to_a_temp_dir(
    tmp_path, monkeypatch
):
    directory = _saved_run(str(tmp_path / "checkpoints"))
    before = _fingerprint(directory)
    os.makedirs(tmp_path / "tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    items = _items()
    worker = Checkpointer(directory, items, is_chief=False)
    assert worker.restore_latest().endswith("ckpt-4") and worker.latest == (
        os.path.join(directory, "ckpt-4")
    )
    assert float(items["w"][0, 0]) == 4.0
    items["step"].assign(6)
    assert worker.save() == os.path.join(directory, "ckpt-6")
    worker.close()
    assert _fingerprint(directory) == before  # Only the chief writes here.
    assert os.listdir(tmp_path / "tmp") == []


def test_bin_train_refuses_a_truncated_checkpoint_and_keeps_the_others(tmp_path):
    data_dir = str(tmp_path / "tfds")
    sources.dataset_info("digits", data_dir)
    workdir = str(tmp_path / "run")
    args = processes.train_args(
        workdir,
        data_dir,
        "--config.train.steps=4",
        "--config.train.steps_per_call=2",
        "--config.train.checkpoint_every=2",
        "--config.train.log_every=2",
    )
    # The run that leaves the checkpoints needs no process of its own.
    loop.train(
        tiny.quickstart_config(
            data_dir,
            **{
                "train.steps": 4,
                "train.steps_per_call": 2,
                "train.checkpoint_every": 2,
                "train.log_every": 2,
            },
        ),
        workdir,
    )
    checkpoints = os.path.join(workdir, "checkpoints")
    _truncate(glob.glob(os.path.join(checkpoints, "ckpt-4.data-*"))[0])
    before = _fingerprint(workdir)

    again = processes.run(args)

    processes.assert_one_line_error(
        again, "ckpt-4 cannot be restored", "resume from ckpt-2"
    )
    assert _fingerprint(workdir) == before


def test_saves_come_at_multiples_of_every_after_resuming_from_any_step(tmp_path):
    directory = _saved_run(str(tmp_path / "checkpoints"), steps=(2, 6))
    items = _items()
    checkpointer = Checkpointer(directory, items, every=4)
    assert checkpointer.restore_latest().endswith("ckpt-6")
    items["step"].assign(7)
    assert checkpointer.save() is None  # Not a multiple of 4.
    items["step"].assign(8)
    assert checkpointer.save().endswith("ckpt-8")
    items["step"].assign(9)
    assert checkpointer.save() is None
    assert checkpointer.save(force=True).endswith("ckpt-9")  # E.g. the last step.
    assert checkpointer.save(force=True).endswith("ckpt-9")  # Kept, not rewritten.
    assert tf.train.latest_checkpoint(directory).endswith("ckpt-9")


def test_a_fresh_run_of_zero_steps_still_saves_step_0(tmp_path):
    directory = str(tmp_path / "checkpoints")
    checkpointer = Checkpointer(directory, _items(), every=4)
    assert checkpointer.restore_latest() is None
    assert checkpointer.save() is None
    assert checkpointer.save(force=True).endswith("ckpt-0")


def test_a_checkpoint_without_one_of_the_items_is_refused(tmp_path):
    directory = _saved_run(str(tmp_path / "checkpoints"))  # Has only w and step.
    items = dict(_items(), seconds=tf.Variable(7.0, dtype=tf.float64))
    with pytest.raises(UserError, match="cannot be restored"):
        Checkpointer(directory, items).restore_latest()


# A run with two checkpoints, ckpt-2 and ckpt-4, whose evaluation is quick.
_TWO_CHECKPOINTS = {
    "train.steps": 4,
    "train.steps_per_call": 2,
    "train.checkpoint_every": 2,
    "train.log_every": 2,
    **TINY_EVAL,
    "eval.kinds": "knn",
    "eval.taps": "y",
    "eval.random_baseline": False,
}


def _move_away(workdir, name, to):
    """Moves checkpoint `name`'s files out of the run, as a user would."""
    os.makedirs(to, exist_ok=True)
    for path in glob.glob(os.path.join(workdir, "checkpoints", f"{name}.*")):
        shutil.move(path, to)


def test_a_run_loads_at_the_checkpoint_training_resumes_from(
    data_dir, tmp_path, caplog
):
    workdir = str(tmp_path / "run")
    config = tiny.quickstart_config(data_dir, **_TWO_CHECKPOINTS)
    loop.train(config, workdir)
    directory = os.path.join(workdir, "checkpoints")
    _move_away(workdir, "ckpt-4", str(tmp_path / "moved"))
    # A save in progress (a run trains while it is evaluated) stays untouched.
    os.makedirs(os.path.join(directory, "ckpt-6_temp"))

    with caplog.at_level(logging.WARNING):
        run = runs.load_run(workdir)

    assert run.step == 2 and run.checkpoint == os.path.join(directory, "ckpt-2")
    said = [r.getMessage() for r in caplog.records if "ckpt-" in r.getMessage()]
    assert said == [
        f"{directory}/checkpoint names ckpt-4, whose files are not all there; "
        "using the newest complete checkpoint, ckpt-2"
    ]
    assert os.path.isdir(os.path.join(directory, "ckpt-6_temp"))

    # Damaged but not moved away: refused as training refuses it.
    shutil.rmtree(os.path.join(directory, "ckpt-6_temp"))
    for path in glob.glob(str(tmp_path / "moved" / "*")):
        shutil.move(path, directory)
    _truncate(glob.glob(os.path.join(directory, "ckpt-4.data-*"))[0])
    with pytest.raises(UserError) as loading:
        runs.load_run(workdir)
    with pytest.raises(UserError) as training:
        loop.train(config, workdir)
    assert str(loading.value) == str(training.value)
    assert "ckpt-4 cannot be restored" in str(loading.value)
    assert "move its files (ckpt-4.*) away to resume from ckpt-2" in str(loading.value)


def test_bin_evaluate_after_the_newest_checkpoint_was_moved_away(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    loop.train(tiny.quickstart_config(data_dir, **_TWO_CHECKPOINTS), workdir)
    _move_away(workdir, "ckpt-4", str(tmp_path / "moved"))

    evaluated = processes.run(
        [sys.executable, "bin/evaluate", f"--workdir={workdir}"], timeout=600
    )

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    said = [line for line in evaluated.stderr.splitlines() if "ckpt-4" in line]
    assert len(said) == 1, evaluated.stderr[-3000:]
    assert said[0].endswith(
        "checkpoint names ckpt-4, whose files are not all there; using the "
        "newest complete checkpoint, ckpt-2"
    )
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    assert results["step"] == 2
    assert results["checkpoint"] == os.path.join("checkpoints", "ckpt-2")
