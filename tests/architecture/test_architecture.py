"""The layout rules the README states, checked so they hold after the next change too.

Which package may import which is import-linter's contract in pyproject.toml (`make lint`); here: every
package is in that contract, and only the speed layer (``model/fast_path.py``) may reach into another
library's private names, so everywhere else a library upgrade can break only what its public documentation
promises.
"""

from __future__ import annotations

import ast
import tomllib
from functools import cache
from pathlib import Path

import pytest
from helpers.project import ROOT

PACKAGE = ROOT / "src" / "imdb_sentiment"
MODULES = sorted(PACKAGE.rglob("*.py"))
SPEED_MODULE = PACKAGE / "model" / "fast_path.py"
FIRST_PARTY = "imdb_sentiment"
DOCUMENTED_PUBLIC = {"_exit", "_asdict", "_replace", "_fields", "_make"}  # os._exit and namedtuple's methods


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@cache
def own_private_names() -> frozenset[str]:
    """Every ``_name`` this package defines: functions, classes, assigned attributes and variables."""
    names: set[str] = set()
    for path in MODULES:
        for node in ast.walk(parsed(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return frozenset(name for name in names if name.startswith("_"))


def private_uses(tree: ast.Module, own: set[str]) -> list[str]:
    """Imports from a private module of another library, and private attributes this package never defines."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith(FIRST_PARTY):
            if any(part.startswith("_") and not part.startswith("__") for part in node.module.split(".")):
                found.append(f"line {node.lineno}: from {node.module} import …")
            found += [
                f"line {node.lineno}: import {alias.name} from {node.module}"
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if any(p.startswith("_") and not p.startswith("__") for p in alias.name.split("."))
            ]
        elif isinstance(node, ast.Attribute):
            name = node.attr
            if name.startswith("_") and not name.startswith("__") and name not in own | DOCUMENTED_PUBLIC:
                found.append(f"line {node.lineno}: .{name}")
    return found


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p != SPEED_MODULE], ids=lambda path: path.relative_to(PACKAGE).as_posix()
)
def test_only_the_speed_module_uses_other_libraries_private_names(path):
    found = private_uses(parsed(path), own_private_names())
    assert not found, f"{path.name} uses private names of another library (only {SPEED_MODULE.name} may): {found}"


def test_the_private_name_check_catches_imports_and_attributes():
    """The check above can fail: a private import and a foreign private attribute are both reported."""
    tree = ast.parse("from mlflow.utils._spark import x\nimport keras\nkeras.src._backend\nself._mine = 1\n")
    assert private_uses(tree, own={"_mine"}) == ["line 1: from mlflow.utils._spark import …", "line 3: ._backend"]


def layered_packages() -> set[str]:
    """The names import-linter's layers contract (pyproject.toml) puts in a layer."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_every_package_and_top_level_module_has_a_layer():
    """A new package outside the contract would be free to import anything: it must be given its layer."""
    members = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    members |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert members - layered_packages() == set(), "add these to [tool.importlinter] layers in pyproject.toml"
    assert layered_packages() - members == set(), "the layers name packages that do not exist"
