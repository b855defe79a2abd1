"""Dependencies: every third-party module the project imports is declared, and the packages whose internals it
uses are installed at the minor release that was tested."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from helpers.project import ROOT
from packaging.requirements import Requirement
from packaging.version import Version

# package -> the module that relies on its internals, and what it uses
INTERNALS = {
    "mlflow": "tracking/model_logging.py hands Model.log its own Keras flavour to work around mlflow#16183",
    "dvc": "src/imdb_sentiment/runtime/repro.py reads DVC's pipeline graph (Repo.index.graph, stage.addressing)",
}
# package -> the minor releases the module above was tested with, where more than the installed one
# (docs/compatibility.md says how each was tested)
TESTED_MINORS = {"mlflow": ["3.17", "3.18"]}
# package -> (the module that needs the pin, what in it needs the pin): when that is gone, so is the pin's reason
PIN_REASONS = {
    "mlflow": ("src/imdb_sentiment/tracking/model_logging.py", "flavor=_KERAS_FLAVOR"),
    "dvc": ("src/imdb_sentiment/runtime/repro.py", "repo.index.graph"),
}
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"yaml": "PyYAML", "sklearn": "scikit-learn", "tensorflow": "tensorflow-cpu", "hydra": "hydra-core"}


def requirements(extra: str | None = None) -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return {Requirement(line).name.lower(): Requirement(line) for line in declared}


def imported_top_level(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    local = {path.stem for path in folder.glob("*.py")} | {path.parent.name for path in folder.glob("*/__init__.py")}
    local |= {"imdb_sentiment", "__future__"}  # the top-level modules and packages of the folder (tests: helpers)
    return names - set(sys.stdlib_module_names) - local


@pytest.mark.parametrize(
    "folders, extra", [(("src", "stages"), None), (("src", "stages", "tests", "benchmarks"), "dev")]
)
def test_every_imported_package_is_declared(folders, extra):
    declared = requirements(extra)
    imported = set().union(*(imported_top_level(ROOT / folder) for folder in folders))
    missing = sorted(name for name in imported if DISTRIBUTIONS.get(name, name).lower() not in declared)
    assert not missing, f"imported but not declared in pyproject.toml ({extra or 'dependencies'}): {missing}"


@pytest.mark.parametrize("package", sorted(INTERNALS))
def test_packages_whose_internals_we_use_are_pinned_to_the_tested_minor_releases(package):
    requirement = requirements()[package]
    installed = Version(metadata.version(package))
    assert requirement.specifier.contains(installed), (
        f"{package} {installed} is installed, but {INTERNALS[package]}, tested with {requirement.specifier}: "
        f"test that module with {package} {installed} and widen the pin in pyproject.toml, or install {requirement}"
    )
    tested = [Version(minor) for minor in TESTED_MINORS.get(package, [f"{installed.major}.{installed.minor}"])]
    assert all(requirement.specifier.contains(minor) for minor in tested), f"{requirement} refuses a tested release"
    newest = max(tested)
    next_minor = Version(f"{newest.major}.{newest.minor + 1}")
    assert not requirement.specifier.contains(next_minor), (
        f"pyproject.toml lets {package} {next_minor} in ({requirement}), untested, while {INTERNALS[package]}"
    )


@pytest.mark.parametrize("package", sorted(INTERNALS))
def test_each_pin_s_reason_is_still_in_the_code(package):
    """A pin outlives its reason silently: once the module no longer uses what the pin protects, this fails, and
    the pin can go (widen the range in pyproject.toml and drop the package here)."""
    module, use = PIN_REASONS[package]
    assert use in (ROOT / module).read_text(), f"{module} no longer uses {use!r}: {package}'s pin has no reason left"
