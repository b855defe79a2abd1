"""The suite's own layout: test folders follow the packages, and a test module never imports another test module
or conftest. What more than one module uses lives in tests/helpers/ (plain modules) or conftest.py (fixtures), so
moving or deleting a test module cannot break another."""

from __future__ import annotations

import ast
from collections import Counter

from helpers.project import ROOT, TESTS

PACKAGE = ROOT / "src" / "imdb_sentiment"
SOURCES = sorted(TESTS.rglob("*.py"))
TEST_MODULES = sorted(path for path in SOURCES if path.name.startswith("test_"))
# Folders for more than one package, and for no package: the pipeline as a whole, these layout rules, the
# top-level cli module, and the helpers (with the test of the overlap check they hold).
NOT_PACKAGES = {"pipeline", "architecture", "cli", "helpers"}


def forbidden_imports(tree: ast.Module, test_modules: set[str]) -> list[str]:
    """The imports of conftest or of a test module (a ``test_*`` module, or one of ``test_modules`` imported by
    name from a package) in ``tree``."""

    def forbidden(dotted: str) -> bool:
        return any(part == "conftest" or part.startswith("test_") for part in dotted.split("."))

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module and forbidden(node.module):
                found.append(f"line {node.lineno}: from {module} import …")
            found += [
                f"line {node.lineno}: from {module} import {a.name}"
                for a in node.names
                if a.name == "conftest" or a.name in test_modules
            ]
    return found


def test_no_test_module_or_helper_imports_a_test_module_or_conftest():
    names = {path.stem for path in TEST_MODULES}
    found = {
        path.relative_to(TESTS).as_posix(): imports
        for path in SOURCES
        if (imports := forbidden_imports(ast.parse(path.read_text(), filename=str(path)), names))
    }
    assert found == {}, "move what these import to tests/helpers/ (fixtures: to conftest.py)"


def test_the_import_check_catches_conftest_and_test_modules_however_imported():
    """The check above can fail: each way of importing conftest or a test module is reported, helpers are not."""
    source = (
        "from conftest import ROOT\n"
        "import test_config\n"
        "from test_pipeline import dvc\n"
        "from tests.data import test_fetch\n"
        "from . import test_fetch as fetch\n"
        "import tests.pipeline.test_end_to_end\n"
        "from helpers.project import ROOT, run\n"
        "from imdb_sentiment.model.evaluate import test_loss\n"
    )
    assert forbidden_imports(ast.parse(source), {"test_config", "test_fetch"}) == [
        "line 1: from conftest import …",
        "line 2: import test_config",
        "line 3: from test_pipeline import …",
        "line 4: from tests.data import test_fetch",
        "line 5: from . import test_fetch",
        "line 6: import tests.pipeline.test_end_to_end",
    ]


def test_test_modules_have_unique_names_in_folders_named_after_the_packages():
    """pytest imports each test module by its file name (rootdir-relative packages are not used), so two with
    one name would clash; and each folder is a package's, or one of the few that are not."""
    clashes = [name for name, count in Counter(path.name for path in TEST_MODULES).items() if count > 1]
    assert clashes == []
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    folders = {path.parent.relative_to(TESTS).as_posix() for path in TEST_MODULES}
    assert folders - packages - NOT_PACKAGES == set(), "a test folder is named after no package"
