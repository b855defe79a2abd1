"""dvc repro on a throw-away git + DVC copy of the project, fed by the fixture mirror."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from helpers.config import yaml_config
from helpers.pipeline import dvc, point_at_fixture
from helpers.project import ROOT, run


def test_dvc_repro_builds_everything_then_is_up_to_date(project, keras_mirror):
    point_at_fixture(project, keras_mirror)
    env = {"IMDB_MIRROR": str(keras_mirror)}
    dvc(project, "repro", "vectorize", env=env)
    assert (project / "data/processed/manifest.json").is_file()
    stats = json.loads((project / "reports/data/stats.json").read_text())
    assert stats["vocabulary"] == 30
    second = dvc(project, "repro", "vectorize", env=env)
    assert "Data and pipelines are up to date" in second.stdout
    status = dvc(project, "status", "vectorize", env=env)
    assert "up to date" in status.stdout


def test_dvc_tracks_the_hydra_files_as_params(project, keras_mirror):
    point_at_fixture(project, keras_mirror)
    dvc(project, "repro", "vectorize", env={"IMDB_MIRROR": str(keras_mirror)})
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    features_file = project / "conf/features/multihot.yaml"
    features_file.write_text(features_file.read_text().replace("validation_rows: 16", "validation_rows: 20"))
    diff = dvc(project, "params", "diff").stdout
    assert "conf/features/multihot.yaml" in diff and "validation_rows" in diff and "20" in diff
    status = dvc(project, "status", "vectorize").stdout
    assert "vectorize" in status and "fetch" not in status


def test_dvc_outputs_are_the_paths_the_config_names():
    """dvc.yaml cannot read Hydra's config, so this keeps the two in step: every path a stage reads or writes is
    one that conf/paths/default.yaml gives (the stages take theirs from there too), or a file inside one."""
    stages = dvc_stages()
    cfg = yaml_config()
    paths, train, item = cfg.paths, stages["train"]["do"], "${item}"
    assert stages["fetch"]["outs"] == [paths.raw_dir, paths.sequences]
    assert paths.sequences in stages["vectorize"]["deps"]
    assert stages["vectorize"]["outs"] == [paths.processed_dir, {str(Path(paths.data_stats).parent): {"cache": False}}]
    assert paths.processed_dir in train["deps"]
    assert train["outs"] == [str(paths.variant_models(item)), {str(paths.variant_reports(item)): {"cache": False}}]
    assert paths.train_reports in stages["compare"]["deps"]
    assert stages["compare"]["outs"] == [{paths.compare_reports: {"cache": False}}]
    assert Path(paths.choice).parent == Path(paths.compare_reports)
    final = stages["final"]
    assert {paths.choice, paths.processed_dir, f"{paths.raw_dir}/{cfg.data.word_index_file}"} <= set(final["deps"])
    assert final["outs"] == [paths.final_models, {paths.final_reports: {"cache": False}}]
    assert {paths.choice, paths.processed_dir} <= set(stages["baselines"]["deps"])
    assert stages["baselines"]["outs"] == [{paths.baselines_reports: {"cache": False}}]
    assert {paths.final_reports, paths.baselines_reports} <= set(stages["side_by_side"]["deps"])
    record = f"{paths.feature_sets}/${{features}}.json"  # this run's row of the page's feature-set table
    assert stages["side_by_side"]["outs"] == [
        {paths.side_by_side_reports: {"cache": False}},
        {record: {"cache": False}},
    ]
    assert paths.choice in stages["side_by_side"]["deps"] and paths.feature_sets in stages["report"]["deps"]
    assert stages["register"]["outs"] == [paths.registry_record]  # ids of one store: DVC-cached, not in git
    assert Path(paths.registry_record).parent == Path(paths.models_dir)
    assert paths.final_models in stages["register"]["deps"]


def written(stage: dict) -> set[str]:
    return {next(iter(p)) if isinstance(p, dict) else p for p in stage.get("outs", []) + stage.get("metrics", [])}


def test_registration_comes_after_everything_it_refers_to_and_the_page_after_all():
    """@champion moves only once the final model, its reports and the paired test are written; the results page
    (reports/README.md, kept in git) is regenerated from every stage's files, so a new result rewrites it."""
    stages = dvc_stages()
    paths = yaml_config().paths
    assert {paths.final_reports, paths.side_by_side_reports} <= set(stages["register"]["deps"])
    assert paths.registry_record in stages["report"]["deps"]  # printed, not on the page: it orders the stages
    report = stages["report"]
    assert report["cmd"] == "python stages/report.py features=${features}"
    assert report["outs"] == [{paths.results_page: {"cache": False}}]
    for name in ("vectorize", "compare", "final", "side_by_side"):  # every report the page reads
        reports = [out for out in written(stages[name]) if out.startswith(paths.reports_dir)]
        read = [out for out in reports if any(out == dep or out.startswith(f"{dep}/") for dep in report["deps"])]
        assert reports and read == reports, name  # each one a dep, or inside one (the feature-set rows' folder)
    assert not any(dep.startswith(paths.results_page) for dep in report["deps"])


def dvc_stages() -> dict:
    text = (ROOT / "dvc.yaml").read_text()
    for variables in yaml.safe_load(text)["vars"]:
        for name, value in variables.items():
            text = text.replace(f"${{{name}}}", value)
    return yaml.safe_load(text)["stages"]


def test_changing_code_a_stage_runs_makes_dvc_rerun_it(project, keras_mirror):
    """The data package runs in fetch and vectorize (and later stages), not in the registry's: editing it reruns
    from fetch; editing the registry reruns register only; the Hydra root file runs in all."""
    point_at_fixture(project, keras_mirror)
    dvc(project, "repro", "vectorize", env={"IMDB_MIRROR": str(keras_mirror)})
    module = project / "src/imdb_sentiment/data/stats.py"
    original = module.read_text()
    assert "def build_stats(" in original
    module.write_text(original.replace("def build_stats(", "def build_stats(  # changed\n", 1))
    status = dvc(project, "status").stdout
    assert "vectorize:" in status and "fetch:" in status, status
    module.write_text(original)
    assert "up to date" in dvc(project, "status", "vectorize").stdout
    registry = project / "src/imdb_sentiment/registry/promote.py"
    registry.write_text(registry.read_text() + "\n# changed\n")
    assert "up to date" in dvc(project, "status", "vectorize").stdout
    stages = {name: stage.get("do", stage) for name, stage in dvc_stages().items()}
    assert [name for name, stage in stages.items() if "src/imdb_sentiment/registry" in stage["deps"]] == ["register"]
    pipeline = project / "conf/pipeline.yaml"
    pipeline.write_text(pipeline.read_text() + "\n# a comment changes the file\n")
    status = dvc(project, "status").stdout
    assert "fetch" in status and "vectorize" in status
