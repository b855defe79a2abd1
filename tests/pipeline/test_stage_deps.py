"""DVC must never call a stage up to date after code or config it runs has changed: each stage's deps in dvc.yaml
cover its entry point, every project module it can import (directly, lazily inside a function, or through another
module: dvc.yaml names the packages they lie in), and the Hydra files every stage composes; and no stage depends
on code it never runs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from helpers.project import ROOT

PACKAGE = "imdb_sentiment"
SOURCE = ROOT / "src" / PACKAGE
# Files every stage reads whatever its work: the root config, the group list and the paths it writes to.
COMPOSED_BY_EVERY_STAGE = ("conf/config.yaml", "conf/pipeline.yaml", "conf/paths/default.yaml")
# Loaded by file path, not imported: MLflow runs it to build the text model (registry.log_text_model).
LOADED_BY_PATH = {"serve.package": ["serve.text_model_entry"]}


def module_file(module: str) -> Path:
    """The file of a dotted module name inside the package (``""`` is the package itself)."""
    path = SOURCE.joinpath(*module.split(".")) if module else SOURCE
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def project_imports(path: Path) -> set[str]:
    """The package modules ``path`` imports anywhere in its body, as dotted names inside the package, with the
    packages that contain them (importing ``a.b`` runs ``a/__init__.py`` first)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            module = node.module.removeprefix(PACKAGE).lstrip(".")
            for alias in node.names:
                child = f"{module}.{alias.name}".lstrip(".")
                found.add(child if module_file(child).exists() else module)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix(f"{PACKAGE}.") for a in node.names if a.name.startswith(f"{PACKAGE}."))
    parents = {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 1)}
    return found | parents


def code_closure(entry_point: Path) -> set[str]:
    """Every project file a stage's entry point can execute, relative to the project root."""
    pending, seen = list(project_imports(entry_point)) + [""], set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending += [*project_imports(module_file(module)), *LOADED_BY_PATH.get(module, [])]
    return {entry_point.relative_to(ROOT).as_posix()} | {module_file(m).relative_to(ROOT).as_posix() for m in seen}


def stages() -> dict[str, dict]:
    """dvc.yaml's stages with its ``vars`` filled in; a foreach stage once, with its template (``${item}`` left
    in its paths)."""
    text = (ROOT / "dvc.yaml").read_text()
    for variables in yaml.safe_load(text).get("vars", []):
        for name, value in variables.items():
            text = text.replace(f"${{{name}}}", str(value))
    return {name: stage.get("do", stage) for name, stage in yaml.safe_load(text)["stages"].items()}


def declared_files(stage: dict) -> list[str]:
    params = [next(iter(p)) if isinstance(p, dict) else p for p in stage.get("params", [])]
    return [str(dep) for dep in stage.get("deps", [])] + [p.rstrip(":") for p in params if "/" in p]


def covered(path: str, declared: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in declared)


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_stage_depends_on_every_project_file_it_runs(name):
    stage = stages()[name]
    entry_point = ROOT / stage["cmd"].split()[1]
    needed = sorted(code_closure(entry_point) | set(COMPOSED_BY_EVERY_STAGE))
    missing = [path for path in needed if not covered(path, declared_files(stage))]
    assert not missing, f"dvc.yaml: stage {name} runs these files but does not depend on them: {missing}"


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_code_dep_of_a_stage_holds_code_it_runs(name):
    """No stale extras either: a package a stage does not import would rerun it for nothing (editing the
    registry reruns registration only)."""
    stage = stages()[name]
    runs = code_closure(ROOT / stage["cmd"].split()[1])
    code_deps = [dep for dep in declared_files(stage) if dep.startswith(("src/", "stages/"))]
    unused = [dep for dep in code_deps if not any(covered(path, [dep]) for path in runs)]
    assert not unused, f"dvc.yaml: stage {name} depends on code it never runs: {unused}"


def test_the_checks_see_a_missing_and_an_unused_package():
    """The two checks above can fail: the register stage without its package, and with the model package."""
    register = stages()["register"]
    declared = declared_files(register)
    runs = code_closure(ROOT / register["cmd"].split()[1])
    assert not all(covered(path, [d for d in declared if d != f"src/{PACKAGE}/registry"]) for path in runs)
    assert not any(covered(path, [f"src/{PACKAGE}/model"]) for path in runs)


def test_the_import_graph_is_read_from_function_bodies_too():
    """The final stage imports its package (and through it most modules) inside its stage function: they count."""
    closure = code_closure(ROOT / "stages/final.py")
    for module in (
        "model.training",
        "model.networks",
        "final.figures",
        "tracking.store",
        "tracking.runs",
        "tracking.run_workers",
        "tracking.model_logging",
        "serve.package",
        "model.evaluate",
        "config.choice",
        "data.features",
        "config.schema",
        "serve.text_model_entry",
        "serve",
    ):
        assert module_file(module).relative_to(ROOT).as_posix() in closure
