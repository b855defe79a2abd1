"""What DVC shows of the study: flat numeric metrics, the declared plots rendering, the reports kept in git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers.pipeline import dvc
from helpers.project import ROOT, copy_project

VARIANT_PLOTS = ("accuracy", "cross_entropy")  # the top-level plots with one line per variant and split
DECLARED = ("accuracy", "cross_entropy", "confusion", "roc", "reports/compare/plots", "reports/final/plots")
STUDY_METRICS = ("reports/final/metrics.json", "reports/baselines/metrics.json", "reports/side_by_side/metrics.json")


def top_level_plots(dvc_yaml: Path) -> dict[str, dict]:
    """The top-level ``plots:`` by id (a bare path's id is the path itself)."""
    plots = {}
    for entry in yaml.safe_load(dvc_yaml.read_text())["plots"]:
        (plot_id, props), *_ = entry.items() if isinstance(entry, dict) else [(entry, {})]
        plots[plot_id] = props or {}
    return plots


def stage_outs(stage: dict) -> list[tuple[str, dict]]:
    """A stage's outs and metrics as (path, options), a foreach stage's through its ``do``."""
    stage = stage.get("do", stage)
    entries = stage.get("outs", []) + stage.get("metrics", [])
    return [next(iter(e.items())) if isinstance(e, dict) else (e, {}) for e in entries]


def variant_metrics(variants: list[str]) -> list[str]:
    return [f"reports/train/{v}/metrics.json" for v in variants]


def test_the_metrics_are_every_variant_in_params_yaml_and_the_study_s_three_files():
    """The top-level ``metrics:``, as ``dvc metrics show`` and ``dvc exp show`` read them; each lies inside a
    stage's report folder (its output), so the numbers are the ones that stage wrote."""
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["metrics"]
    variants = yaml.safe_load((ROOT / "params.yaml").read_text())["variants"]
    assert declared == variant_metrics(variants) + list(STUDY_METRICS)
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    folders = [path for stage in stages.values() for path, _ in stage_outs(stage)]
    for path in declared:
        concrete = [folder.replace("${item}", path.split("/")[2]) for folder in folders]
        assert any(Path(path).is_relative_to(folder) for folder in concrete), path


def test_the_study_plots_are_declared_and_overlay_every_variant_in_params_yaml():
    plots = top_level_plots(ROOT / "dvc.yaml")
    assert tuple(plots) == DECLARED
    variants = yaml.safe_load((ROOT / "params.yaml").read_text())["variants"]
    for plot_id in VARIANT_PLOTS:
        assert list(plots[plot_id]["y"]) == [f"reports/train/{v}/history_mean.csv" for v in variants], plot_id
    confusion = plots["confusion"]
    assert confusion["template"] == "confusion" and confusion["x"] == "actual"
    assert confusion["y"] == {"reports/final/predictions.csv": "predicted"}
    assert (plots["roc"]["x"], plots["roc"]["y"]) == ("fpr", {"reports/final/roc.csv": "tpr"})


def test_reports_go_to_git_and_data_and_models_to_the_dvc_cache():
    """Every report is ``cache: false`` and not git-ignored; every data and model output is cached and ignored."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    outs = [out for stage in stages.values() for out in stage_outs(stage)]
    reports = [path for path, options in outs if options.get("cache") is False]
    cached = [path for path, options in outs if options == {}]
    assert len(reports) + len(cached) == len(outs) and reports and cached
    assert all(path.startswith("reports/") for path in reports)
    assert all(path.startswith(("data/", "models/")) for path in cached)
    for path, ignored in [(p, False) for p in reports] + [(p, True) for p in cached]:
        concrete = path.replace("${item}", "base_1layer")
        check = subprocess.run(["git", "check-ignore", "-q", concrete], cwd=ROOT, check=False)
        assert (check.returncode == 0) is ignored, concrete


def only_variants(project: Path, variants: list[str]) -> None:
    """Point the copy's variant plots at the variants it trained (as a user who changes params.yaml would)."""
    spec = yaml.safe_load((project / "dvc.yaml").read_text())
    for entry in spec["plots"]:
        plot_id, props = next(iter(entry.items())) if isinstance(entry, dict) else (entry, None)
        if plot_id in VARIANT_PLOTS:
            props["y"] = {path: fields for path, fields in props["y"].items() if path.split("/")[2] in variants}
    spec["metrics"] = variant_metrics(variants) + list(STUDY_METRICS)
    (project / "dvc.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def rendered(plot: list[dict]) -> bool:
    """A plot DVC rendered with data: a Vega spec with data points, or an image file."""
    for item in plot:
        if item["type"] == "vega" and item["content"]["data"]["values"]:
            return True
        if item["type"] == "image" and Path(item["url"]).is_file():
            return True
    return False


@pytest.mark.slow
def test_metrics_are_flat_numbers_and_every_declared_plot_renders(fixture_pipeline, tmp_path):
    variants = ["base_1layer", "l2_3layer"]
    shared, env, _ = fixture_pipeline
    project = copy_project(shared, tmp_path / "project")  # only_variants edits its dvc.yaml
    only_variants(project, variants)
    metrics = json.loads(dvc(project, "metrics", "show", "--json", env=env).stdout)[""]["data"]
    assert set(metrics) == set(variant_metrics(variants) + list(STUDY_METRICS))
    for path, shown in metrics.items():
        values = json.loads((project / path).read_text())
        assert shown["data"] == values and all(type(v) in (int, float) for v in values.values()), path
    shown = json.loads(dvc(project, "plots", "show", "--json", "-o", str(project / "dvc_plots"), env=env).stdout)
    assert not shown.get("errors"), shown.get("errors")
    plots = shown["data"]
    for plot_id in ("accuracy", "cross_entropy", "confusion", "roc"):
        assert rendered(plots.get(plot_id, [])), plot_id
    for folder in ("reports/compare/plots", "reports/final/plots"):
        images = [plot for plot_id, plot in plots.items() if plot_id.startswith(folder + "/")]
        assert images and all(rendered(plot) for plot in images), folder
    lines = {row["filename::field"] for row in plots["cross_entropy"][0]["content"]["data"]["values"]}
    assert len(lines) == 2 * len(variants)  # one line per variant and split
