"""The `slow` marker: registered, strictly checked, its files collected first."""

import os
import subprocess
import sys
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pytest_on(tmp_path, marker):
    """Runs pytest with this repository's settings on one test marked `marker`."""
    test = tmp_path / "marked_test.py"
    test.write_text(
        f"import pytest\n\n\n@pytest.mark.{marker}\ndef test_nothing():\n    pass\n"
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            os.path.join(REPO, "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            str(test),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_slow_is_a_registered_marker(tmp_path):
    result = _pytest_on(tmp_path, "slow")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_a_misspelt_marker_fails_the_run(tmp_path):
    result = _pytest_on(tmp_path, "slwo")
    assert result.returncode != 0
    assert "'slwo' not found in `markers`" in result.stdout + result.stderr


def _conftest(pytestconfig):
    """tests/conftest.py as this session loaded it (importing it again would
    configure TensorFlow's devices a second time)."""
    path = os.path.join(REPO, "tests", "conftest.py")
    for plugin in pytestconfig.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == path:
            return plugin
    raise AssertionError("tests/conftest.py is not loaded")


def _item(file, name, slow=False):
    marker = pytest.mark.slow.mark if slow else None
    return types.SimpleNamespace(
        path=file,
        name=name,
        get_closest_marker=lambda wanted: marker if wanted == "slow" else None,
    )


def test_files_with_slow_tests_are_collected_first_in_their_own_order(
    pytestconfig,
):
    items = [
        _item("a_test.py", "a1"),
        _item("b_test.py", "b1", slow=True),
        _item("c_test.py", "c1"),
        _item("d_test.py", "d1"),
        _item("d_test.py", "d2", slow=True),  # One slow test makes its file slow.
        _item("d_test.py", "d3"),
        _item("e_test.py", "e1", slow=True),
        _item("a_test.py", "a2"),
    ]
    _conftest(pytestconfig).pytest_collection_modifyitems(items)
    assert [item.name for item in items] == [
        "b1",
        "d1",
        "d2",
        "d3",
        "e1",
        "a1",
        "c1",
        "a2",
    ]
