"""A worker of a multi-worker cluster lost mid-run: one line, a status, a restart."""

import re
import signal
import time

import pytest
import tensorflow as tf

from dim_tf.errors import WorkerLost
from dim_tf.training import checkpoints, loop, lost_workers
from dim_tf.training.checkpoints import Checkpointer
from tests import processes

pytestmark = pytest.mark.slow

STEPS = 16
FLAGS = (
    f"--config.train.steps={STEPS}",
    "--config.train.steps_per_call=1",
    "--config.train.log_every=1",
    "--config.train.checkpoint_every=4",
)
STEP_LINE = re.compile(r"^step (\d+)/", re.MULTILINE)

# What a survivor's training step raised when the other worker of two was
# SIGKILLed (TF 2.21), without the graph's plumbing lines.
SOCKET_CLOSED = (
    "Graph execution error:\n\nDetected at node while/CollectiveReduceV2_15 "
    'defined at (most recent call last):\n  File "bin/train", line 9\n\n'
    "Collective ops is aborted by: Socket closed\nAdditional GRPC error "
    "information from remote target /job:worker/replica:0/task:1 while calling "
    "/tensorflow.WorkerService/RecvBuf:\n:UNKNOWN:Error received from peer  "
    '{grpc_status:14, grpc_message:"Socket closed"}\nThe error could be from a '
    "previous operation. Restart your program to reset.\n\t "
    "[[{{node while/CollectiveReduceV2_15}}]] [Op:__inference__train_steps_fn_6156]"
)
# ... and the eager all-reduce of the stop flags, once the peer's port was closed.
REFUSED = (
    "{{function_node __wrapped__CollectiveReduceV2_Nordering_token_1_device_"
    "/job:worker/replica:0/task:1/device:CPU:0}} Collective ops is aborted by: "
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:5002: "
    "Failed to connect to remote host: Connection refused\nThe error could be "
    "from a previous operation. Restart your program to reset."
)
# ... and the step when no collective was under way at the kill: the
# coordination service's heartbeat check.
UNHEALTHY = (
    "{{function_node __wrapped__CollectiveReduceV2_Nordering_token_1_device_"
    "/job:worker/replica:0/task:0/device:CPU:0}} Collective ops is aborted by: "
    "Error reported from /job:worker/task:2: The following tasks are unhealthy "
    "(stopped sending heartbeats):\n/job:worker/replica:0/task:2\nThe tasks have "
    "crashed. Check the task logs for an earlier error, or scheduler events (e.g. "
    "preemption, eviction) to debug further.\nThe error could be from a previous "
    "operation. Restart your program to reset. [Op:CollectiveReduceV2] name: "
)
# Worker 1's error when worker 2 of three was SIGKILLed: worker 0, alive,
# answered with its own abort for the loss of worker 2.
RELAYED = (
    "Graph execution error:\n\nDetected at node CollectiveReduceV2_8 defined at "
    "(most recent call last):\nCollective ops is aborted by: Collective ops is "
    "aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error "
    "information from remote target /job:worker/replica:0/task:2 while calling "
    "/tensorflow.WorkerService/RecvBuf:\n:UNKNOWN:Error received from peer  "
    '{grpc_status:14, grpc_message:"recvmsg:Connection reset by peer"}\nThe error '
    "could be from a previous operation. Restart your program to reset.\n"
    "Additional GRPC error information from remote target "
    "/job:worker/replica:0/task:0 while calling /tensorflow.WorkerService/RecvBuf:"
    "\n:UNKNOWN:Error received from peer  {grpc_status:14, grpc_message:"
    '"Collective ops is aborted by: recvmsg:Connection reset by peer\\nAdditional '
    "GRPC error information from remote target /job:worker/replica:0/task:2 while "
    "calling /tensorflow.WorkerService/RecvBuf:\\n:UNKNOWN:Error received from "
    'peer  {grpc_status:14, grpc_message:\\"recvmsg:Connection reset by peer\\"}'
    "\\nThe error could be from a previous operation. Restart your program to "
    'reset."}\nThe error could be from a previous operation. Restart your program '
    "to reset.\n\t [[{{node CollectiveReduceV2_8}}]] "
    "[Op:__inference__train_steps_fn_6026]"
)
CLUSTER = {"worker": ["127.0.0.1:5000", "127.0.0.1:5001", "127.0.0.1:5002"]}


def _unavailable(message):
    return tf.errors.UnavailableError(None, None, message)


def test_the_peer_tensorflow_names_is_the_lost_worker():
    err = lost_workers.lost_worker(
        _unavailable(SOCKET_CLOSED), CLUSTER, ("worker", 0), 12, "/w/ckpt-8"
    )

    assert isinstance(err, WorkerLost)
    assert str(err) == (
        "lost worker 1 (127.0.0.1:5001) after step 12 (UnavailableError: Socket "
        "closed); training cannot go on: start every worker again (the same "
        "command) to resume from checkpoint /w/ckpt-8"
    )


def test_a_peer_named_only_by_its_address_is_found_in_the_cluster():
    # The error's device is this worker's own (task 1), not the lost one.
    err = lost_workers.lost_worker(
        _unavailable(REFUSED), CLUSTER, ("worker", 1), 7, None
    )

    assert str(err).startswith("lost worker 2 (127.0.0.1:5002) after step 7 (")
    assert str(err).endswith(
        "to start again from step 0 (no checkpoint was written yet)"
    )


def test_the_tasks_the_heartbeat_check_lists_are_the_lost_workers():
    err = lost_workers.lost_worker(
        _unavailable(UNHEALTHY), CLUSTER, ("worker", 0), 5, "/w/ckpt-4"
    )

    assert str(err).startswith(
        "lost worker 2 (127.0.0.1:5002) after step 5 (UnavailableError: Error "
        "reported from /job:worker/task:2: The following tasks are unhealthy "
        "(stopped sending heartbeats): /job:worker/replica:0/task:2); "
    )


def test_a_peer_that_relays_the_abort_is_not_the_lost_worker():
    err = lost_workers.lost_worker(
        _unavailable(RELAYED), CLUSTER, ("worker", 1), 8, "/w/ckpt-5"
    )

    assert str(err).startswith(
        "lost worker 2 (127.0.0.1:5002) after step 8 (UnavailableError: "
        "recvmsg:Connection reset by peer); "
    )


def test_an_unnamed_peer_is_named_only_when_it_is_the_only_one():
    unnamed = _unavailable("Collective ops is aborted by: Deadline Exceeded")
    three = str(lost_workers.lost_worker(unnamed, CLUSTER, ("worker", 1), 3, None))
    two = {"worker": CLUSTER["worker"][:2]}

    assert three.startswith(
        "lost a worker (TensorFlow's error does not say which of worker 0 "
        "(127.0.0.1:5000), worker 2 (127.0.0.1:5002)) after step 3"
    )
    assert str(
        lost_workers.lost_worker(unnamed, two, ("worker", 1), 3, None)
    ).startswith("lost worker 0 (127.0.0.1:5000) after step 3")


@pytest.mark.parametrize(
    "err",
    [
        # An input pipeline's remote read, not a collective.
        _unavailable("Error executing an HTTP request [[{{node IteratorGetNext}}]]"),
        # A collective failing for a bug here, not for a peer.
        tf.errors.InvalidArgumentError(
            None, None, "Collective ops is aborted by: Shape mismatch"
        ),
    ],
)
def test_other_errors_are_not_a_lost_worker(err):
    assert not lost_workers.is_lost_worker(err)


def test_a_save_that_loses_a_peer_is_not_blamed_on_the_disk(tmp_path):
    checkpointer = Checkpointer(
        str(tmp_path), {"step": tf.Variable(4, dtype=tf.int64)}, every=4
    )

    def lose_peer(**kwargs):
        raise _unavailable(SOCKET_CLOSED)

    checkpointer.manager.save = lose_peer

    with pytest.raises(tf.errors.UnavailableError):
        checkpointer.save()


def test_the_line_names_the_lost_worker_even_with_an_unreadable_state_file(
    tmp_path,
):
    (tmp_path / "checkpoint").write_bytes(b"\x00 not a state file")
    resume = loop._resume_point(str(tmp_path))
    assert resume == f"{tmp_path} (the newest; its state file cannot be read)"
    err = lost_workers.lost_worker(
        _unavailable(SOCKET_CLOSED),
        {"worker": ["host0:1", "host1:2"]},
        ("worker", 0),
        8,
        resume,
    )
    assert str(err).startswith("lost worker 1 (host1:2) after step 8")
    assert str(err).endswith(f"resume from checkpoint {resume}")


def _wait_for_checkpoint(directory, workers, logs, timeout=240):
    """Waits until `directory` holds a complete checkpoint; returns its path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = checkpoints.newest_checkpoint(directory, warn=False)
        if path is not None:
            return path
        for worker, log in zip(workers, logs):
            assert worker.poll() is None, processes.read(log)[-3000:]
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint in {timeout}s:\n{processes.read(logs[0])}")


def test_a_killed_worker_ends_the_other_with_one_line_and_all_resume(
    data_dir, tmp_path
):
    workdir = tmp_path / "run"
    directory = str(workdir / "checkpoints")
    workers, logs, addresses, _ = processes.start_workers(
        workdir, data_dir, tmp_path, "first", *FLAGS
    )
    try:
        _wait_for_checkpoint(directory, workers, logs)
        workers[0].kill()  # The chief, which writes the checkpoints.
        killed = time.monotonic()
        status = workers[1].wait(timeout=120)
        seconds = time.monotonic() - killed
    finally:
        processes.stop(workers)
    survivor = processes.read(logs[1])

    assert workers[0].returncode == -signal.SIGKILL
    assert status == WorkerLost.EXIT_STATUS == 138, survivor[-3000:]
    assert seconds < 60
    assert "Traceback" not in survivor
    errors = processes.error_lines(survivor)
    assert len(errors) == 1, survivor[-3000:]
    resume = checkpoints.newest_checkpoint(directory, warn=False)
    resume_step = int(resume.rsplit("-", 1)[1])
    lost = re.fullmatch(
        rf"error: lost worker 0 \({re.escape(addresses[0])}\) after step (\d+) "
        r"\(UnavailableError: .+\); training cannot go on: start every "
        rf"worker again \(the same command\) to resume from checkpoint "
        rf"{re.escape(resume)}",
        errors[0],
    )
    assert lost, errors[0]
    assert STEPS > int(lost.group(1)) >= resume_step > 0

    workers, logs, _, _ = processes.start_workers(
        workdir, data_dir, tmp_path, "again", *FLAGS
    )
    try:
        statuses = [worker.wait(timeout=300) for worker in workers]
    finally:
        processes.stop(workers)
    outputs = [processes.read(log) for log in logs]

    assert statuses == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    for output in outputs:
        assert f"Trained to step {STEPS}." in output
    steps = [int(step) for step in STEP_LINE.findall(outputs[0])]  # The chief's.
    assert steps == list(range(resume_step + 1, STEPS + 1))
