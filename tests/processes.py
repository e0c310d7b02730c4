"""bin/ scripts as separate processes: run to completion, killed, signalled or paired."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests import tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_args(workdir, data_dir, *flags):
    """The command line of a tiny bin/train run."""
    return [
        sys.executable,
        "bin/train",
        *tiny.TINY_FLAGS,
        f"--config.data.data_dir={data_dir}",
        f"--workdir={workdir}",
        *flags,
    ]


def environment(**extra):
    """This environment, quiet, without a TF_CONFIG unless `extra` sets one."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def run(args, timeout=300, **env):
    """Runs a command to completion; returns the CompletedProcess (text)."""
    return subprocess.run(
        args,
        cwd=REPO,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_python(*args, timeout=600, **env):
    """Runs `python ARGS` to completion: a bin/ script and its flags, or `-c CODE`.

    The default timeout allows a whole tiny run: train, evaluate or export.
    """
    return run([sys.executable, *args], timeout=timeout, **env)


def start(args, log_path, **env):
    """Starts a command with stdout and stderr into `log_path`; returns the Popen."""
    log = open(log_path, "w")
    process = subprocess.Popen(
        args, cwd=REPO, env=environment(**env), stdout=log, stderr=subprocess.STDOUT
    )
    log.close()  # The child holds its own descriptor.
    return process


def start_workers(workdir, data_dir, tmp_path, tag, *flags):
    """Starts bin/train workers 0 and 1 of a two-worker cluster on 127.0.0.1.

    Each runs `train_args(workdir, data_dir, *flags)` with
    `--config.strategy=multi_worker`, its own TF_CONFIG and its own TMPDIR
    (`tmp_path/TAG_tmpI`), its output in `tmp_path/TAG_workerI.log`.

    Returns:
      (the Popens, their log paths, the workers' addresses, their TMPDIRs).
    """
    ports = free_ports(2)
    addresses = [f"127.0.0.1:{port}" for port in ports]
    workers, logs, temps = [], [], []
    try:
        for index in range(2):
            temp = tmp_path / f"{tag}_tmp{index}"
            temp.mkdir()
            log = str(tmp_path / f"{tag}_worker{index}.log")
            tf_config = {
                "cluster": {"worker": addresses},
                "task": {"type": "worker", "index": index},
            }
            args = train_args(
                workdir, data_dir, *flags, "--config.strategy=multi_worker"
            )
            workers.append(
                start(args, log, TF_CONFIG=json.dumps(tf_config), TMPDIR=str(temp))
            )
            logs.append(log)
            temps.append(temp)
    except BaseException:
        stop(workers)
        raise
    return workers, logs, addresses, temps


def stop(popens):
    """Kills those of `popens` still running (for a test's `finally`)."""
    for process in popens:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_line(log_path, fragment, process, timeout=240):
    """Waits until a line of the log contains `fragment`; returns that line.

    Fails when the process exits first or the time runs out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path) as f:
            for line in f:
                if fragment in line:
                    return line
        if process.poll() is not None:
            raise AssertionError(
                f"process exited ({process.returncode}) before printing {fragment!r}:\n"
                + _tail(log_path)
            )
        time.sleep(0.1)
    raise AssertionError(
        f"no line with {fragment!r} in {timeout}s:\n" + _tail(log_path)
    )


def _tail(log_path, chars=3000):
    with open(log_path) as f:
        return f.read()[-chars:]


def read(log_path):
    with open(log_path) as f:
        return f.read()


def free_ports(count):
    """Ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def without_tensorflow(tmp_path):
    """A PYTHONPATH whose `tensorflow` fails to import: "tensorflow imported"."""
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("tensorflow imported")\n')
    return str(tmp_path / "fake")


def assert_user_error(call, *fragments):
    """`call()` raises a one-line `UserError` holding each fragment (in-process)."""
    from dim_tf.errors import UserError

    with pytest.raises(UserError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def assert_one_line_error(result, *fragments):
    """Exit status 2, no traceback, one `error: ...` line holding each fragment."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def error_lines(text):
    """The `error: ...` lines of an entry point's stderr."""
    return [line for line in text.splitlines() if line.startswith("error: ")]
