"""The entry points' environment defaults, as a fresh interpreter sees them."""

import os
import subprocess
import sys

from tests.processes import REPO

# Prints whether NumPy would ask for huge pages: its (private) setter
# returns the value it replaces.
_NUMPY_HUGEPAGES = (
    "import numpy; print(numpy._core.multiarray._set_madvise_hugepage(True))"
)


def _run(prelude, **env):
    environment = dict(os.environ)
    environment.pop("NUMPY_MADVISE_HUGEPAGE", None)
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", f"{prelude}; {_NUMPY_HUGEPAGES}"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_entry_point_defaults_turn_numpy_huge_pages_off():
    prelude = "from dim_tf import cli; cli.set_environment_defaults()"
    assert _run(prelude) == "False"


def test_bin_wrappers_turn_numpy_huge_pages_off():
    assert _run("import sys; sys.path.insert(0, 'bin'); import _launch") == "False"


def test_a_users_setting_wins():
    prelude = "from dim_tf import cli; cli.set_environment_defaults()"
    assert _run(prelude, NUMPY_MADVISE_HUGEPAGE="1") == "True"
