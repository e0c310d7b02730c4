"""The one formatter (ruff format) and the linter agree with every Python file."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_FILES = [
    "dim_tf",
    "configs",
    "tests",
    "bin/_launch.py",
    "bin/train",
    "bin/evaluate",
    "bin/export",
    "bin/benchmark",
]


def _ruff(*args):
    targets = [p for p in PYTHON_FILES if os.path.exists(os.path.join(REPO, p))]
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *targets],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_ruff_format_is_clean():
    result = _ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_is_clean():
    result = _ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr
