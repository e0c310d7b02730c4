"""Keeps the libraries' harmless start-up noise out of the entry points' output.

TensorFlow's C++ libraries print lines such as "Could not find cuda drivers"
and "failed call to cuInit: ... UNKNOWN ERROR (303)" (no GPU here) while they
load, before TensorFlow's logging is configured, so TF_CPP_MIN_LOG_LEVEL
cannot hide them; TFDS logs warnings about its own internals. Only lines
known to be harmless are dropped: everything else still reaches stderr.
"""

import logging
import os
import re
import sys
import tempfile

# Lines TensorFlow writes to fd 2 while it loads on a machine without a
# usable GPU, or to say which CPU kernels it uses.
_HARMLESS_START_LINES = re.compile(
    "|".join(
        [
            r"All log messages before absl::InitializeLog\(\) is called",
            r"cudart_stub\.cc.*Could not find cuda drivers",
            r"failed call to cuInit: .*UNKNOWN ERROR \(303\)",
            r"cpu_feature_guard\.cc",
            r"To enable the following instructions: ",
            r"oneDNN custom operations are on",
        ]
    )
)

# TFDS warnings about its own use of deprecated fields, and about a dataset
# folder without metadata (a dataset about to be prepared, or one a crash
# left half-prepared, which TFDS then prepares again).
_HARMLESS_LOG_MESSAGES = (
    "` is deprecated. Please change your code to use NumPy with the field",
    "has no dataset_info.json",
)
# Keras traces a predict function per loaded model, and bin/export checks
# each `.keras` file it writes: TensorFlow then warns of retracing. Only
# Keras's predict function is meant; the project's own functions still warn.
_HARMLESS_RETRACING = (
    "triggered tf.function retracing",
    "make_predict_function.<locals>",
)


def drop_harmless_log_records(record: logging.LogRecord) -> bool:
    """A `logging.Handler` filter: False for the TFDS and Keras warnings above."""
    message = record.getMessage()
    if all(fragment in message for fragment in _HARMLESS_RETRACING):
        return False
    return not any(fragment in message for fragment in _HARMLESS_LOG_MESSAGES)


def start_tensorflow():
    """Imports TensorFlow and lists its devices, dropping the harmless lines.

    What the libraries write to fd 2 meanwhile goes to a temporary file; the
    lines not known to be harmless (a broken CUDA install's errors, Python
    warnings) are then written to stderr, and all of it when the start
    fails. With TF_CPP_MIN_LOG_LEVEL at 0 or 1 (a user debugging TensorFlow)
    nothing is dropped. Listing the devices does not start TensorFlow's
    runtime, so strategies can still configure it.
    """
    captured = _capture_file()
    if captured is None:
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    with captured:
        saved_stderr = os.dup(2)
        failed = False
        try:
            os.dup2(captured.fileno(), 2)
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            lines = text.splitlines(keepends=True)
            if not failed:
                lines = [s for s in lines if not _HARMLESS_START_LINES.search(s)]
            sys.stderr.write("".join(lines))
            sys.stderr.flush()


def _capture_file():
    """A temporary file for fd 2, or None when nothing is to be hidden.

    None when TF_CPP_MIN_LOG_LEVEL is 0 or 1 (TensorFlow's lines are wanted)
    or no temporary file can be made (the lines are then shown).
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        return None
    try:
        return tempfile.TemporaryFile()
    except OSError:
        return None
