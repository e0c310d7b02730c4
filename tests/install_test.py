"""The installable package: what its wheel holds, and its console scripts.

The wheel is built by the setuptools backend pyproject.toml names (what `pip
install .` calls, without pip's start-up and the network), from a copy of the
files a build reads, so nothing is written into the checkout.
"""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests import processes

SCRIPTS = (
    "dim-train",
    "dim-evaluate",
    "dim-export",
    "dim-benchmark",
    "dim-embed",
    "dim-neighbours",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The path of a wheel of the repository, built into a temporary folder."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(processes.REPO, name), source / name)
    shutil.copytree(
        os.path.join(processes.REPO, "dim_tf"),
        source / "dim_tf",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = tmp_path_factory.mktemp("wheel")
    build = (
        "import sys; from setuptools import build_meta; "
        "print(build_meta.build_wheel(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", build, str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out / result.stdout.split()[-1]


def test_the_wheel_holds_the_library_and_its_console_scripts(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [
            n for n in names if n.endswith(".dist-info/entry_points.txt")
        ]
        scripts = archive.read(entry_points).decode()
    for package in ("cli", "models", "objective", "input", "training", "evaluators"):
        assert f"dim_tf/{package}/__init__.py" in names
    assert "dim_tf/config.py" in names
    # Only the library: configs/ are files users pass by path, tests/ stay here.
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"dim_tf"}, tops
    for script in SCRIPTS:
        module = script.replace("dim-", "dim_tf.cli.")
        assert f"{script} = {module}:main" in scripts
        assert f"{module.replace('.', '/')}.py" in names


def test_the_installed_console_script_runs_a_config_given_by_path(wheel, tmp_path):
    # A wheel is a zip of what `pip install --target` puts there.
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # What the generated `dim-train` script does, from the installed metadata.
    run_script = (
        "import sys, dim_tf; from importlib import metadata; "
        "assert dim_tf.__file__.startswith(sys.argv[1]), dim_tf.__file__; "
        "(script,) = metadata.entry_points(group='console_scripts', name='dim-train'); "
        "sys.argv = ['dim-train', *sys.argv[2:]]; script.load()()"
    )
    config = os.path.join(processes.REPO, "configs", "quickstart.py")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            run_script,
            str(target),
            f"--config={config}",
            f"--workdir={tmp_path / 'run'}",
            "--config.objective.estimator=mine",
        ],
        cwd=elsewhere,
        env=processes.environment(PYTHONPATH=str(target)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    processes.assert_one_line_error(result, "unknown objective.estimator 'mine'")
    assert not (tmp_path / "run").exists()
