"""docs/ARCHITECTURE.md's module table names every module of dim_tf, and only those.

The table's first column names modules by their path under `dim_tf/`
(`training/checkpoints.py`, `config.py`; the package's own `__init__.py` as
`dim_tf/__init__.py`); a cell naming several modules of one folder gives the
folder once (`cli/train.py`, `evaluate.py`).
"""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "dim_tf")
DOC = os.path.join(REPO, "docs", "ARCHITECTURE.md")
TABLE_HEADING = "## One line per module"


def _modules():
    """Every module of dim_tf, as a path relative to dim_tf/ with "/"."""
    found = set()
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.relpath(os.path.join(folder, name), PACKAGE)
                found.add(path.replace(os.sep, "/"))
    return found


def table_modules(text):
    """The module paths the module table of ARCHITECTURE.md's `text` names."""
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    named = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        names = re.findall(r"`([^`]+\.py)`", line.split("|")[1])
        first = names[0].removeprefix("dim_tf/")
        folder = first.rpartition("/")[0]
        named.add(first)
        for name in names[1:]:
            named.add(name if "/" in name or not folder else f"{folder}/{name}")
    return named


def test_the_module_table_names_every_module():
    missing = _modules() - table_modules(open(DOC, encoding="utf-8").read())
    assert not missing, f"add rows to docs/ARCHITECTURE.md for {sorted(missing)}"


def test_every_module_the_table_names_exists():
    absent = table_modules(open(DOC, encoding="utf-8").read()) - _modules()
    assert not absent, f"docs/ARCHITECTURE.md names missing modules {sorted(absent)}"


def test_a_cell_naming_several_modules_gives_their_folder_once():
    text = f"{TABLE_HEADING}\n\n| module | job |\n|---|---|\n"
    text += "| `cli/train.py`, `evaluate.py` | scripts |\n"
    text += "| `dim_tf/__init__.py` | the package |\n\n## Next\n| `x.py` | |\n"
    assert table_modules(text) == {"cli/train.py", "cli/evaluate.py", "__init__.py"}
