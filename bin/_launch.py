"""Start-up shared by the bin/ wrappers; imported before anything else.

Runs the entry point under the repository's `.venv` interpreter when the
current one lacks the dependencies (so `bin/train ...` works without
activating the venv), quiets TensorFlow's start-up logging, turns on oneDNN's
CPU kernels, turns off NumPy's huge pages and puts the repository on
`sys.path`, so a checkout runs without `pip install`. The entry points
themselves live in dim_tf/cli/.
"""

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")


# The top-level packages of requirements.txt the entry points import.
_DEPENDENCIES = (
    "absl",
    "ml_collections",
    "tensorflow",
    "keras",
    "tensorflow_datasets",
    "tensorflow_probability",
    "sklearn",
)


def _use_repository_venv():
    """Re-executes this entry point with `.venv/bin/python` when deps are missing."""
    if all(importlib.util.find_spec(name) for name in _DEPENDENCIES):
        os.environ.pop("DIM_TF_REEXEC", None)  # Children may switch on their own.
        return
    if os.access(_VENV_PYTHON, os.X_OK) and not os.environ.get("DIM_TF_REEXEC"):
        os.environ["DIM_TF_REEXEC"] = "1"  # Never loop if the venv is broken too.
        os.execv(_VENV_PYTHON, [_VENV_PYTHON, *sys.argv])
    sys.stderr.write(
        f"error: {sys.executable} lacks dim_tf's dependencies and {REPO}/.venv "
        "is missing or incomplete; create it with bin/quickstart, or with "
        "`python3 -m venv .venv && .venv/bin/pip install -r requirements.txt`\n"
    )
    sys.exit(2)


_use_repository_venv()
if REPO not in sys.path:
    sys.path.insert(0, REPO)
# Here, not only when the entry point runs: the defaults must be in place
# before anything imports TensorFlow or NumPy (dim_tf.cli imports neither).
from dim_tf.cli import set_environment_defaults  # noqa: E402

set_environment_defaults()
