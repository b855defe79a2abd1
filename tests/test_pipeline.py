"""dvc repro on a throw-away git + DVC copy of the project, fed by the fixture mirror."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from conftest import ROOT, run, sha256
from test_config import yaml_config


def point_at_fixture(project: Path, mirror: Path, num_words: int = 30, validation_rows: int = 16) -> None:
    """Edit the copy's Hydra files the way a user would: trust the fixture's digests, shrink the sizes."""
    data_file = project / "conf/data/imdb.yaml"
    data = yaml.safe_load(data_file.read_text())
    data.update(
        npz_sha256=[sha256(mirror / "imdb.npz")],
        word_index_sha256=[sha256(mirror / "imdb_word_index.json")],
        num_words=num_words,
    )
    data_file.write_text(yaml.safe_dump(data))
    features_file = project / "conf/features/multihot.yaml"
    features = yaml.safe_load(features_file.read_text())
    features["validation_rows"] = validation_rows
    features_file.write_text(yaml.safe_dump(features))


def dvc(project: Path, *args: str, env: dict | None = None):
    return run([sys.executable, "-m", "dvc", *args], project, env=env)


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
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    cfg = yaml_config()
    paths, train, item = cfg.paths, stages["train"]["do"], "${item}"
    assert stages["fetch"]["outs"] == [paths.raw_dir, paths.sequences]
    assert paths.sequences in stages["vectorize"]["deps"]
    assert stages["vectorize"]["outs"] == [paths.processed_dir, {paths.data_stats: {"cache": False}}]
    assert paths.processed_dir in train["deps"]
    assert train["outs"][0] == str(paths.variant_models(item))
    reports = [next(iter(out)) for out in train["outs"][1:] + train["metrics"]]
    assert all(Path(out).parent == paths.variant_reports(item) for out in reports)
    assert reports[-1] == str(paths.variant_reports(item) / "metrics.json")
    assert paths.train_reports in stages["compare"]["deps"]
    compare_outs = [next(iter(out)) for out in stages["compare"]["outs"]]
    assert paths.choice in compare_outs
    assert all(Path(out).parent == Path(paths.compare_reports) for out in compare_outs)
    final = stages["retrain_final"]
    assert {paths.choice, paths.processed_dir, f"{paths.raw_dir}/{cfg.data.word_index_file}"} <= set(final["deps"])
    assert final["outs"][0] == paths.final_models
    reports = [next(iter(out)) for out in final["outs"][1:] + final["metrics"]]
    assert all(Path(out).parent == Path(paths.final_reports) for out in reports)


def test_changing_code_a_stage_runs_makes_dvc_rerun_it(project, keras_mirror):
    """``feature_stats`` runs only in vectorize, so only vectorize reruns; the Hydra root file runs in all."""
    point_at_fixture(project, keras_mirror)
    dvc(project, "repro", "vectorize", env={"IMDB_MIRROR": str(keras_mirror)})
    module = project / "src/imdb_sentiment/feature_stats.py"
    original = module.read_text()
    assert "def build_stats(" in original
    module.write_text(original.replace("def build_stats(", "def build_stats(  # changed\n", 1))
    status = dvc(project, "status").stdout
    assert "vectorize:" in status and "fetch:" not in status, status
    module.write_text(original)
    assert "up to date" in dvc(project, "status", "vectorize").stdout
    pipeline = project / "conf/pipeline.yaml"
    pipeline.write_text(pipeline.read_text() + "\n# a comment changes the file\n")
    status = dvc(project, "status").stdout
    assert "fetch" in status and "vectorize" in status
