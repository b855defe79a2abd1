"""DVC must never call a stage up to date after code or config it runs has changed: each stage's deps in dvc.yaml
cover its entry point, every project module it can import (directly, lazily inside a function, or through another
module), and the Hydra files every stage composes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

PACKAGE = "imdb_sentiment"
SOURCE = ROOT / "src" / PACKAGE
# Files every stage reads whatever its work: the root config, the group list and the paths it writes to.
COMPOSED_BY_EVERY_STAGE = ("conf/config.yaml", "conf/pipeline.yaml", "conf/paths/default.yaml")
# Loaded by file path, not imported: MLflow runs it to build the text model (registry.log_text_model).
LOADED_BY_PATH = {"tracking.registry": ["serve.text_model_entry"]}


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
    """dvc.yaml's stages; a foreach stage once, with its template (``${item}`` left in its paths)."""
    return {
        name: stage.get("do", stage)
        for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items()
    }


def declared_files(stage: dict) -> list[str]:
    params = [next(iter(p)) if isinstance(p, dict) else p for p in stage.get("params", [])]
    return [str(dep) for dep in stage.get("deps", [])] + [p.rstrip(":") for p in params if "/" in p]


def covered(path: str, declared: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in declared)


def code_deps(stage: dict) -> list[str]:
    """A stage's code deps as dvc.yaml should list them: the entry point, then its modules by name."""
    entry_point, *modules = sorted(
        code_closure(ROOT / stage["cmd"].split()[1]), key=lambda p: (p.startswith("src/"), p)
    )
    return [entry_point, *modules]


def rewrite_code_deps(text: str) -> str:
    """dvc.yaml with each stage's run of code deps (``stages/…``, ``src/…``) replaced by :func:`code_deps`."""
    lines, out, by_stage = text.split("\n"), [], {name: code_deps(stage) for name, stage in stages().items()}
    current = None
    for line in lines:
        stripped = line.strip()
        if line.startswith("  ") and not line.startswith("   ") and stripped.endswith(":"):
            current = stripped[:-1]
        if stripped.startswith(("- stages/", "- src/")):
            indent = line[: len(line) - len(line.lstrip())]
            if by_stage.get(current) is not None:
                out += [f"{indent}- {path}" for path in by_stage.pop(current)]
            continue
        out.append(line)
    return "\n".join(out)


def test_code_deps_are_exactly_what_each_stage_runs():
    """No stale extras either: a dep a stage no longer imports would rerun it for nothing.

    Regenerate after adding, renaming or re-wiring modules: ``python tests/test_stage_deps.py``.
    """
    text = (ROOT / "dvc.yaml").read_text()
    assert rewrite_code_deps(text) == text, "dvc.yaml's code deps differ: run `python tests/test_stage_deps.py`"


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_stage_depends_on_every_project_file_it_runs(name):
    stage = stages()[name]
    entry_point = ROOT / stage["cmd"].split()[1]
    needed = sorted(code_closure(entry_point) | set(COMPOSED_BY_EVERY_STAGE))
    missing = [path for path in needed if not covered(path, declared_files(stage))]
    assert not missing, f"dvc.yaml: stage {name} runs these files but does not depend on them: {missing}"


def test_the_import_graph_is_read_from_function_bodies_too():
    """retrain_final imports final (and through it most modules) inside its stage function: they count."""
    closure = code_closure(ROOT / "stages/retrain_final.py")
    for module in (
        "model.training",
        "model.networks",
        "study.plots",
        "tracking.store",
        "tracking.runs",
        "tracking.run_workers",
        "tracking.model_logging",
        "tracking.registry",
        "final.evaluate",
        "final.choice",
        "data.features",
        "config.schema",
        "serve.text_model_entry",
        "serve",
    ):
        assert module_file(module).relative_to(ROOT).as_posix() in closure


if __name__ == "__main__":  # rewrite dvc.yaml's code deps from the import graph
    dvc_yaml = ROOT / "dvc.yaml"
    dvc_yaml.write_text(rewrite_code_deps(dvc_yaml.read_text()))
