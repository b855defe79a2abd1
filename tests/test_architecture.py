"""The layout rules the README states, checked so they hold after the next change too.

Modules stay small enough to read in one sitting, functions short enough to read top to bottom, and only the
speed layer (``fast_path.py``) may reach into another library's private names: everywhere else a library
upgrade can break only what its public documentation promises.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "imdb_sentiment"
MODULES = sorted(PACKAGE.glob("*.py"))
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 200, 40
SPEED_MODULE = "fast_path.py"
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


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_module_is_longer_than_the_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines (limit {MAX_MODULE_LINES}): split it by concern"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_function_is_longer_than_the_limit(path):
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(parsed(path))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != SPEED_MODULE], ids=lambda path: path.name)
def test_only_the_speed_module_uses_other_libraries_private_names(path):
    found = private_uses(parsed(path), own_private_names())
    assert not found, f"{path.name} uses private names of another library (only {SPEED_MODULE} may): {found}"


def test_the_private_name_check_catches_imports_and_attributes():
    """The check above can fail: a private import and a foreign private attribute are both reported."""
    tree = ast.parse("from mlflow.utils._spark import x\nimport keras\nkeras.src._backend\nself._mine = 1\n")
    assert private_uses(tree, own={"_mine"}) == ["line 1: from mlflow.utils._spark import …", "line 3: ._backend"]
