"""Real bin/train processes killed, signalled and doubled up on one workdir."""

import os
import random
import re
import signal
import time

import pytest

from dim_tf.training import checkpoints
from tests import processes

pytestmark = pytest.mark.slow

STEP_LINE = re.compile(r"^step (\d+)/(\d+)", re.MULTILINE)


def _steps_logged(text):
    return [int(m.group(1)) for m in STEP_LINE.finditer(text)]


def _latest_step(workdir):
    """The step of the checkpoint a rerun resumes from, or None.

    `newest_checkpoint`'s: the one the `checkpoint` state file names, or,
    before the first state file is written (a kill right after the first
    save's files were renamed into place), the newest complete `ckpt-N`.
    """
    path = checkpoints.newest_checkpoint(os.path.join(workdir, "checkpoints"))
    return None if path is None else int(path.rsplit("-", 1)[1])


def test_sigkill_at_any_moment_then_rerun_finishes_every_step(data_dir, tmp_path):
    total = 40
    workdir = str(tmp_path / "run")
    args = processes.train_args(
        workdir,
        data_dir,
        f"--config.train.steps={total}",
        "--config.train.steps_per_call=1",
        "--config.train.log_every=1",
        # A save after every step: kills often land in the middle of one.
        "--config.train.checkpoint_every=1",
    )
    rng = random.Random()
    for attempt in range(2):
        log = str(tmp_path / f"killed{attempt}.log")
        process = processes.start(args, log)
        if attempt == 0:  # During training (and so, often, during a save).
            processes.wait_for_line(log, "step ", process)
            time.sleep(rng.uniform(0.0, 1.0))
        else:  # At any moment from start-up on; it may even have finished.
            time.sleep(rng.uniform(0.0, 12.0))
        process.kill()
        assert process.wait(timeout=60) in (-signal.SIGKILL, 0)
        if attempt == 0:  # A dead owner's lock, which the next run takes over.
            with open(os.path.join(workdir, "lock")) as f:
                assert f"pid {process.pid} " in f.read()
    resumed_from = _latest_step(workdir) or 0

    result = processes.run(args)

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Trained to step {total}." in result.stdout
    steps = _steps_logged(result.stderr)
    assert steps == list(range(resumed_from + 1, total + 1))
    assert _latest_step(workdir) == total
    leftovers = [n for n in os.listdir(os.path.join(workdir, "checkpoints"))]
    assert not [n for n in leftovers if n.endswith("_temp")]


def test_sigterm_saves_a_checkpoint_and_a_busy_workdir_is_refused(data_dir, tmp_path):
    workdir = str(tmp_path / "run")

    def args(steps):
        return processes.train_args(
            workdir,
            data_dir,
            f"--config.train.steps={steps}",
            "--config.train.steps_per_call=1",
            "--config.train.log_every=1",
            "--config.train.checkpoint_every=100000",
        )

    log = str(tmp_path / "first.log")
    first = processes.start(args(100_000), log)
    try:
        processes.wait_for_line(log, "step 3/", first)

        second = processes.run(args(100_000))
        processes.assert_one_line_error(second, "in use", f"pid {first.pid}")

        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        if first.poll() is None:
            first.kill()
    output = processes.read(log)
    stopped = re.search(
        r"stopped by SIGTERM at step (\d+); saved checkpoint (\S+);", output
    )
    assert stopped, output[-3000:]
    step = int(stopped.group(1))
    assert step >= 3 and stopped.group(2).endswith(f"ckpt-{step}")
    # Not a periodic save (every 100000 steps): the one SIGTERM asked for.
    assert _latest_step(workdir) == step
