"""Two bin/train workers on 127.0.0.1 under MultiWorkerMirroredStrategy."""

import os

import pytest

from tests import processes

pytestmark = pytest.mark.slow


def _run_two_workers(workdir, data_dir, tmp_path, steps, tag):
    """Runs worker 0 and worker 1 to the end; returns (logs, their TMPDIRs)."""
    workers, logs, _, temps = processes.start_workers(
        workdir,
        data_dir,
        tmp_path,
        tag,
        f"--config.train.steps={steps}",
        "--config.train.steps_per_call=2",
        "--config.train.log_every=2",
        "--config.train.checkpoint_every=2",
        # Never reached, but the workers agree on it after every call.
        "--config.train.max_minutes=600",
    )
    try:
        for worker, log in zip(workers, logs):
            assert worker.wait(timeout=300) == 0, processes.read(log)[-3000:]
    finally:
        processes.stop(workers)
    return [processes.read(log) for log in logs], temps


def test_two_workers_train_and_only_the_chief_writes_the_workdir(data_dir, tmp_path):
    workdir = tmp_path / "run"
    logs, temps = _run_two_workers(workdir, data_dir, tmp_path, 4, "first")

    for log in logs:
        assert "Trained to step 4." in log
    # Worker 0 is the chief: progress, summaries, config and checkpoints.
    assert "step 4/4" in logs[0] and "step 4/4" not in logs[1]
    assert (workdir / "config.json").exists()
    assert sorted(os.listdir(workdir / "checkpoints")) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
    ]
    events = os.listdir(workdir / "train")
    assert len(events) == 1 and events[0].startswith("events.out.tfevents")
    # Worker 1 saved into a temporary directory and removed it. (That every
    # worker restores from the chief's checkpoints is tests/training/checkpoints_test.py's.)
    assert os.listdir(temps[1]) == []
