"""dim_tf.cli.quiet_start drops only TensorFlow's known-harmless start-up lines.

A stand-in `tensorflow` package writes to fd 2 as the real one does while it
loads, so these tests run in a fresh interpreter in well under a second.
"""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from dim_tf.cli import quiet_start
from tests.processes import REPO

FAKE_TENSORFLOW = """
import os
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1 1 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\\n")
os.write(2, b"E0000 00:00:1 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\\n")
os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: CUDA_ERROR_NO_DEVICE\\n")
if os.environ.get("FAKE_TF_FAILS"):
    raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")

class config:
    @staticmethod
    def list_physical_devices():
        os.write(2, b"a Python warning from device listing\\n")
        return []
"""


def _start(tmp_path, **env):
    package = tmp_path / "tensorflow"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(FAKE_TENSORFLOW)
    code = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = [{str(tmp_path)!r}, {REPO!r}]
        from dim_tf.cli import quiet_start
        quiet_start.start_tensorflow()
        print("started")
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_harmless_lines_are_dropped_and_the_rest_is_kept(tmp_path):
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\n"
    assert "InitializeLog" not in result.stderr
    assert "Could not find cuda drivers" not in result.stderr
    assert "UNKNOWN ERROR (303)" not in result.stderr
    # A real CUDA problem and anything else unknown still reach the user.
    assert "CUDA_ERROR_NO_DEVICE" in result.stderr
    assert "a Python warning from device listing" in result.stderr


def test_everything_is_shown_when_tensorflow_fails_to_start(tmp_path):
    result = _start(tmp_path, FAKE_TF_FAILS="1")
    assert result.returncode != 0
    assert "cannot open shared object file" in result.stderr
    assert "Could not find cuda drivers" in result.stderr
    assert "InitializeLog" in result.stderr


def test_nothing_is_dropped_when_tensorflow_logging_is_asked_for(tmp_path):
    result = _start(tmp_path, TF_CPP_MIN_LOG_LEVEL="0")
    assert result.returncode == 0, result.stderr
    assert "Could not find cuda drivers" in result.stderr


@pytest.mark.parametrize(
    "message,kept",
    [
        (
            "`FeatureConnector.dtype` is deprecated. Please change your code to "
            "use NumPy with the field `FeatureConnector.np_dtype`",
            False,
        ),
        ("Variant folder /d/digits/1.0.0 has no dataset_info.json", False),
        ("Checkpoint ckpt-4 is damaged", True),
        (
            "5 out of the last 5 calls to <function TensorFlowTrainer."
            "make_predict_function.<locals>.one_step_on_data_distributed at 0x7f> "
            "triggered tf.function retracing.",
            False,
        ),
        (
            "5 out of the last 5 calls to <function Trainer._step at 0x7f> "
            "triggered tf.function retracing.",
            True,
        ),
    ],
)
def test_log_filter_drops_only_the_known_harmless_warnings(message, kept):
    record = logging.LogRecord("absl", logging.WARNING, "f.py", 1, message, None, None)
    assert quiet_start.drop_harmless_log_records(record) is kept
