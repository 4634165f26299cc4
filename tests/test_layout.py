"""The package's layout rules, checked on the source (no backend involved):

- framework code (torch, tensorflow, jax, jaxlib) is imported only in keras_trt/backend/
  (the per-backend helpers and data-parallel engines) and keras_trt/data/ (tf.data,
  tfds), and by the modules of ALLOWED_IMPORTS for the reason given there; the rest of the library uses keras.ops, so `import keras_trt` never imports a
  framework the user does not run and every module works on every backend;
- no module is longer than 400 lines (one concept per file);
- nothing private crosses a module boundary where it is forbidden: the scripts (recipes/,
  benchmarks/, tools/) and keras_trt.experiments import no leading-underscore name (nor
  reach one as `module._name`), and
  neither the scripts nor the tests edit `sys.path` (the scripts run over the installed
  library; a script's own folder is on sys.path already, which is how benchmarks/ share
  setup_common.py and timing.py);
- the scripts also keep to 400 lines.
- no file imports a test module (a `test_*.py` or `conftest.py`): what tests, tools,
  benchmarks or recipes share lives in keras_trt.testing or in a plain helper module of
  tests/, and tools/, benchmarks/ and recipes/ import nothing from tests/.
- tests/ mirrors the package: the tests of keras_trt/<path>/<name>.py (or of the private
  `_<name>.py`, or of the package <path>/<name>/) are tests/<path>/test_<name>.py, or
  test_<name>_<aspect>.py where one module has several; the few tests that span modules
  are listed in CROSS_CUTTING_TESTS with what they cover.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_trt"
FRAMEWORKS = {"torch", "tensorflow", "jax", "jaxlib"}
MAY_IMPORT_FRAMEWORKS = ("backend", "data")   # folders of keras_trt
# (module, framework) pairs allowed elsewhere, each with its reason.
_CONSUMERS = ("runners of external simulators (snnTorch, Norse and SpikingJelly are torch "
              "programs, Spyx a JAX one, whatever KERAS_BACKEND is), imported inside the "
              "functions only")
ALLOWED_IMPORTS = {
    ("testing/nir_consumers.py", "torch"): _CONSUMERS,
    ("testing/nir_consumers.py", "jax"): _CONSUMERS,
}
MAX_LINES = 400
SCRIPT_FOLDERS = ("recipes", "benchmarks", "tools")
ALLOWED_LONG_FILES = {}   # relative path -> reason; empty: every module fits


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path):
    return path.relative_to(PACKAGE).as_posix()


def framework_imports(source):
    """The frameworks that `source` imports anywhere (module level or inside functions):
    `import x`, `from x import y`, and `importlib.import_module("x")` /
    `__import__("x")` with a literal name."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names = [node.args[0].value]
        found.update(name.split(".")[0] for name in names)
    return found & FRAMEWORKS


def test_framework_imports_only_in_backend_and_data():
    offenders = []
    for path in _modules():
        relative = _relative(path)
        if relative.split("/")[0] in MAY_IMPORT_FRAMEWORKS:
            continue
        for framework in sorted(framework_imports(path.read_text())):
            if (relative, framework) not in ALLOWED_IMPORTS:
                offenders.append(f"{relative} imports {framework}")
    assert not offenders, ("move framework code to keras_trt/backend/ (library code uses "
                           "keras.ops): " + "; ".join(offenders))


def test_the_import_finder_sees_every_form():
    source = ("import os\nimport torch.distributed as dist\n"
              "def f():\n    from jax import numpy\n"
              "    importlib.import_module('tensorflow')\n    __import__('jaxlib')\n"
              "from keras_trt import backend\nimport_module(name)\n")
    assert framework_imports(source) == {"torch", "jax", "tensorflow", "jaxlib"}
    assert framework_imports("import keras\nfrom . import torch\n") == set()


def test_no_module_over_400_lines():
    long = {_relative(path): n for path in _modules()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    unexpected = {path: n for path, n in long.items() if path not in ALLOWED_LONG_FILES}
    assert not unexpected, f"split these modules (over {MAX_LINES} lines): {unexpected}"


def test_allowed_framework_imports_are_inside_functions():
    """An allowed module imports its frameworks lazily: `import keras_trt.testing...`
    imports none."""
    for relative, framework in ALLOWED_IMPORTS:
        tree = ast.parse((PACKAGE / relative).read_text())
        module_level = {alias.name.split(".")[0] for node in tree.body
                        if isinstance(node, ast.Import) for alias in node.names}
        module_level |= {node.module.split(".")[0] for node in tree.body
                         if isinstance(node, ast.ImportFrom) and node.module}
        assert framework not in module_level, relative


def private_imports(source):
    """The leading-underscore names that `source` imports from other modules
    (`from m import _x`, `import _m`, `from m import _m as y`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            found += [node.module for p in parts if p.startswith("_") and p != "__future__"]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names
                      if any(p.startswith("_") for p in a.name.split("."))]
    return found


def private_attribute_uses(source):
    """`module._name` where `module` is a name this source imports (a private helper of
    another module reached through its module): `import m; m._x()`."""
    tree = ast.parse(source)
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules |= {a.asname or a.name for a in node.names}
    return sorted(f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id in modules and node.attr.startswith("_")
                  and not node.attr.startswith("__"))


def _is_sys_path(node):
    return (isinstance(node, ast.Attribute) and node.attr == "path"
            and getattr(node.value, "id", None) == "sys")


def sys_path_edits(source):
    """Lines that change sys.path (insert, append, extend, assignment to it or a slice)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr in ("insert", "append", "extend")
                and _is_sys_path(node.value)):
            lines.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_sys_path(t) or (isinstance(t, ast.Subscript) and _is_sys_path(t.value))
                   for t in targets):
                lines.append(node.lineno)
    return sorted(lines)


def _scripts():
    """The scripts over the library: recipes/, benchmarks/ and tools/."""
    return sorted(p for folder in SCRIPT_FOLDERS for p in (ROOT / folder).glob("*.py"))


def test_the_private_import_finders_see_every_form():
    assert private_imports("from a import _b, c\nimport x._y\nfrom _p import q\n") == [
        "a._b", "x._y", "_p"]
    assert sys_path_edits("import sys\nsys.path.insert(0, 'x')\nsys.path.append('y')\n") == [2, 3]
    assert sys_path_edits("import sys\nsys.path[:0] = ['x']\nsys.path += ['y']\n"
                          "sys.path = []\npath.insert(0, 'z')\n") == [2, 3, 4]
    assert private_imports("from . import timing\nimport setup_common as _s\n") == []
    assert private_attribute_uses("import a\nfrom b import c\na._x(); c._y; a.__doc__\n"
                                  "d._z\n") == ["a._x", "c._y"]


def test_the_scripts_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in _scripts()}
    assert {"benchmarks/train_step.py", "benchmarks/timing.py",
            "tools/measure_nir_consumers.py"} <= names
    assert any(name.startswith("recipes/") for name in names)


def test_scripts_and_experiments_import_public_names_only():
    paths = _scripts() + sorted((PACKAGE / "experiments").rglob("*.py"))
    offenders = {str(p.relative_to(ROOT)): found for p in paths
                 if (found := private_imports(p.read_text())
                     + private_attribute_uses(p.read_text()))}
    assert not offenders, offenders


def test_scripts_and_tests_leave_sys_path_alone():
    paths = _scripts() + sorted((ROOT / "tests").rglob("*.py"))
    offenders = {str(p.relative_to(ROOT)): lines for p in paths
                 if (lines := sys_path_edits(p.read_text()))}
    assert not offenders, offenders


def test_no_script_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _scripts()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these scripts (over {MAX_LINES} lines): {long}"


KERAS_COMPAT = "_keras_compat.py"   # the one module that may use Keras internals
# Keras' internal graph attributes; keras_trt.graph reads the graph from get_config().
KERAS_GRAPH_INTERNALS = ("_inbound_nodes", "_outbound_nodes", "_keras_history")


def keras_src_imports(source):
    """The `keras.src` modules that `source` imports (any form, as `framework_imports`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                found.append(node.args[0].value)
    return [name for name in found if name == "keras.src" or name.startswith("keras.src.")]


def attribute_uses(source, names):
    """`(line, attribute)` of every `x.<name>` and `getattr(x, "<name>")` in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
                "getattr", "setattr", "hasattr") and len(node.args) >= 2 and isinstance(
                node.args[1], ast.Constant) and node.args[1].value in names:
            found.append((node.lineno, node.args[1].value))
    return found


def test_the_keras_internals_finders_see_every_form():
    source = ("import keras.src.models\nfrom keras.src.models import functional\n"
              "importlib.import_module('keras.src.backend')\nimport keras\n"
              "from keras import ops\n"
              "def f(t):\n    return t._keras_history, getattr(t, '_inbound_nodes')\n")
    assert keras_src_imports(source) == ["keras.src.models", "keras.src.models",
                                         "keras.src.backend"]
    assert attribute_uses(source, KERAS_GRAPH_INTERNALS) == [
        (7, "_keras_history"), (7, "_inbound_nodes")]


def test_only_the_compat_module_imports_keras_src():
    offenders = {_relative(p): found for p in _modules() if _relative(p) != KERAS_COMPAT
                 and (found := keras_src_imports(p.read_text()))}
    assert not offenders, (f"import Keras internals through keras_trt/{KERAS_COMPAT} "
                           f"(one documented, tested entry each): {offenders}")


def test_no_module_reads_keras_graph_internals():
    offenders = {_relative(p): found for p in _modules()
                 if (found := attribute_uses(p.read_text(), KERAS_GRAPH_INTERNALS))}
    assert not offenders, ("follow a model's graph with keras_trt.graph.layer_graph "
                           f"(public get_config()): {offenders}")


def imported_modules(source):
    """The modules that `source` imports, by dotted name: `import a.b`, `from a import b`
    (as `a.b`), `importlib.import_module("a")` / `__import__("a")` with a literal name,
    and the file of `spec_from_file_location(name, path)` when its path is a literal or
    ends in one (`ROOT / "tests" / "conftest.py"` gives "tests/conftest.py")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args and isinstance(
                    node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append(node.args[0].value)
            elif called == "spec_from_file_location" and len(node.args) > 1:
                parts = sorted((n.lineno, n.col_offset, n.value) for n in ast.walk(node.args[1])
                               if isinstance(n, ast.Constant) and isinstance(n.value, str))
                found.append("/".join(part[-1] for part in parts))
    return found


def is_test_module(name):
    """A dotted module name or a file path whose last part is a test module."""
    last = name.replace("\\", "/").split("/")[-1]
    last = last[:-3] if last.endswith(".py") else last.split(".")[-1]
    return last == "conftest" or last.startswith("test_")


def test_the_test_module_finder_sees_every_form():
    source = ("import conftest\nfrom tests.data.conftest import make_events\n"
              "from tests import test_training\nfrom tests.support import BACKEND\n"
              "importlib.import_module('tests.recipes.test_recipes')\n"
              "spec_from_file_location('w', ROOT / 'tests' / 'data' / 'conftest.py')\n"
              "spec_from_file_location('r', RECIPES / f'{name}.py')\n")
    imported = imported_modules(source)
    assert [name for name in imported if is_test_module(name)] == [
        "conftest", "tests.data.conftest", "tests.test_training",
        "tests.recipes.test_recipes", "tests/data/conftest.py"]
    assert not is_test_module("tests.support.BACKEND") and not is_test_module(".py")


def test_no_file_imports_a_test_module():
    folders = ("tests", "tools", "benchmarks", "recipes", "keras_trt")
    offenders = {}
    for path in sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        imported = imported_modules(path.read_text())
        bad = [name for name in imported if is_test_module(name)]
        if not relative.startswith("tests/"):
            bad += [name for name in imported if name.split(".")[0] == "tests"]
        if bad:
            offenders[relative] = sorted(set(bad))
    assert not offenders, ("import shared helpers from keras_trt.testing or a helper "
                           f"module of tests/, not from a test module: {offenders}")


TESTS = ROOT / "tests"
# Test files (relative to tests/) that cover several modules at once, with what they cover.
CROSS_CUTTING_TESTS = {
    "test_docs.py": "every code block of README.md and docs/",
    "test_docstrings.py": "every docstring example of keras_trt",
    "test_layout.py": "the layout rules of the whole repository",
    "test_layer_contracts.py": "the Keras layer contract of every public layer",
    "test_benchmarks_gpu_check.py": "benchmarks/gpu_check.sh (a script, not a module)",
    "test_benchmarks_setup.py": "benchmarks/setup_common.py and timing.py (scripts)",
    "recipes/": "the scripts of recipes/ at the repository root",
    "models/test_architectures.py": "the paper's networks (vggsnn, resnet19, sew_resnet)",
    "models/test_jit.py": "jit_compile of the paper's networks on every backend",
    "models/test_saving.py": ".keras files of the paper's networks across backends",
    "models/test_training.py": "the paper's networks train and serialise",
    "analysis/test_plot_model.py": "keras.utils.plot_model with the analysis extra",
    "data/test_corrupt_data.py": "every loader's errors on corrupt input",
    "data/test_loader_api.py": "the arguments every loader shares",
    "export/test_tf_saved_model.py": "Keras' own model.export of a SpikingModel",
    "experiments/cli/test_commands.py": "the command dispatch (__main__.py, cli/__init__.py)",
}


def mirrored_module(relative):
    """The keras_trt module (or package) that the test file `relative` (a path under tests/,
    e.g. "callbacks/test_exact_resume_killed.py") mirrors, as a path relative to keras_trt/,
    or None: the longest `_`-separated prefix <name> of the file's name after `test_` for
    which <folder>/<name>.py, <folder>/_<name>.py or a package <folder>/<name>/ exists."""
    path = Path(relative)
    folder = PACKAGE.joinpath(*path.parent.parts)
    words = path.stem.removeprefix("test_").split("_")
    for k in range(len(words), 0, -1):
        name = "_".join(words[:k])
        for candidate in (folder / f"{name}.py", folder / f"_{name}.py",
                          folder / name / "__init__.py"):
            if candidate.is_file():
                return candidate.parent.relative_to(PACKAGE).as_posix() + "/" if (
                    candidate.name == "__init__.py") else _relative(candidate)
    return None


def _test_files():
    return sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py"))


def test_the_mirror_finder_maps_test_files_to_modules():
    assert mirrored_module("test_neurons.py") == "neurons.py"
    assert mirrored_module("test_model_inputs.py") == "_model_inputs.py"
    assert mirrored_module("callbacks/test_exact_resume_killed.py") == "callbacks/exact_resume.py"
    assert mirrored_module("test_training_several_outputs.py") == "training.py"
    assert mirrored_module("export/test_nir_import.py") == "export/nir_import.py"
    assert mirrored_module("test_distribute_x.py") == "distribute/"
    assert mirrored_module("test_neuron.py") is None
    assert mirrored_module("core/test_neurons.py") is None
    assert "callbacks/test_exact_resume.py" in _test_files()


def test_tests_mirror_the_package():
    cross_cutting = [path for path in _test_files()
                     if any(path == entry or (entry.endswith("/") and path.startswith(entry))
                            for entry in CROSS_CUTTING_TESTS)]
    unmapped = [path for path in _test_files()
                if path not in cross_cutting and mirrored_module(path) is None]
    assert not unmapped, (
        "put the tests of keras_trt/<path>/<name>.py in tests/<path>/test_<name>.py "
        f"(or test_<name>_<aspect>.py), or list a cross-cutting file: {unmapped}")
    stale = [entry for entry in CROSS_CUTTING_TESTS if not (TESTS / entry).exists()]
    assert not stale, f"CROSS_CUTTING_TESTS names files that are gone: {stale}"
