"""The workdir lock: one holder at a time, released on exit, stale locks taken over."""

import os

import pytest

from dim_tf.errors import UserError
from dim_tf.workdir import workdir_lock


def test_a_held_lock_refuses_a_second_holder_naming_the_first(tmp_path):
    workdir = str(tmp_path / "run")
    with workdir_lock(workdir):
        with open(os.path.join(workdir, "lock")) as f:
            assert f.read().startswith(f"pid {os.getpid()} on ")
        with pytest.raises(UserError) as err:
            with workdir_lock(workdir):
                pass
        message = str(err.value)
        assert "in use" in message and f"pid {os.getpid()}" in message
        assert "\n" not in message
    with workdir_lock(workdir):  # Released on exit.
        pass


def test_a_lock_file_left_by_a_dead_process_is_taken_over(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "lock").write_text("pid 999999 on elsewhere\n")
    with workdir_lock(str(workdir)):
        assert (workdir / "lock").read_text().startswith(f"pid {os.getpid()} ")


def test_a_disabled_lock_writes_nothing(tmp_path):
    with workdir_lock(str(tmp_path / "run"), enabled=False):
        pass
    assert not (tmp_path / "run").exists()
