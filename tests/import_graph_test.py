"""The package's import graph: no cycle, dependencies pointing down, FLAGS in cli/.

Read from the source with `ast`, so imports inside functions count too and
nothing is imported (no TensorFlow needed).
"""

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "dim_tf")


def _modules():
    """Dotted module name -> path, for every module of dim_tf."""
    modules = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, REPO)[: -len(".py")].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imports(path, modules):
    """The dim_tf modules `path` imports, anywhere in the file.

    A string that names a dim_tf module counts as an import of it: that is
    how `importlib.import_module` (the evaluator registry) imports. The
    package's bare name does not: it is Keras's `package="dim_tf"`.
    """
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Constant) and node.value in modules:
            if node.value == "dim_tf":
                continue
            found.add(node.value)
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from a.b import c` imports a.b.c when c is a module, else a.b.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _graph():
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _without_package_inits(graph):
    """Edges between modules, ignoring `pkg -> pkg/__init__` (Python's own)."""
    return {
        name: {
            target
            for target in targets
            if not (name.startswith(target + ".") and target != "dim_tf")
        }
        for name, targets in graph.items()
    }


def _find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(name, path):
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name, [name])
            if cycle:
                return cycle
    return None


def test_the_graph_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "lazy.py"
    path.write_text(
        "def f():\n    from dim_tf import errors\n    import dim_tf.cli\n"
        "    importlib.import_module('dim_tf.workdir')\n"
        "@keras.saving.register_keras_serializable(package='dim_tf')\n"
        "class Layer: pass\n"
    )
    assert _imports(str(path), _modules()) == {
        "dim_tf.errors",
        "dim_tf.cli",
        "dim_tf.workdir",
    }


def test_no_import_cycle():
    cycle = _find_cycle(_without_package_inits(_graph()))
    assert cycle is None, " -> ".join(cycle)


def test_a_cycle_would_be_found():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_training_never_imports_evaluators():
    for name, targets in _graph().items():
        if name.startswith("dim_tf.training") or name.startswith("dim_tf.models"):
            bad = [t for t in targets if t.startswith("dim_tf.evaluators")]
            assert not bad, f"{name} imports {bad}"


def test_only_cli_reads_flags():
    for name, path in _modules().items():
        if name.startswith("dim_tf.cli"):
            continue
        source = open(path).read()
        assert "FLAGS" not in source, f"{name} reads absl FLAGS"
