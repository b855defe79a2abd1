"""The whole pipeline on the fixture through `dvc repro` (conftest's ``fixture_pipeline``, shared with other
modules and only read here), then prediction and a real model server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from helpers.pipeline import dvc
from helpers.project import run, run_stage
from helpers.serving import post, served

pytestmark = pytest.mark.slow
TEXT_FILES = {".json", ".csv", ".md", ".txt"}


def test_dvc_repro_runs_every_stage_and_then_nothing(fixture_pipeline):
    project, env, first = fixture_pipeline
    for stage in (
        "fetch",
        "vectorize",
        "train@base_1layer",
        "train@l2_3layer",
        "compare",
        "final",
        "baselines",
        "side_by_side",
        "register",
        "report",
    ):
        assert f"Running stage '{stage}'" in first.stdout
    output = first.stdout + first.stderr
    assert "Add type hints" not in output  # MLflow's warning for an unhinted predict
    for noise in (
        "absl::InitializeLog",
        "oneDNN custom operations",
        "use_unbounded_threadpool",
        "Downloading artifacts",
    ):
        assert noise not in output  # TensorFlow's banners and error line, MLflow's progress bars
    second = dvc(project, "repro", env=env)
    assert "Data and pipelines are up to date" in second.stdout
    best = json.loads((project / "reports/compare/best.json").read_text())
    assert best["variant"] in {"base_1layer", "l2_3layer"} and best["epochs"] >= 1 and best["reason"]
    final = json.loads((project / "reports/final/metrics.json").read_text())
    final_run = json.loads((project / "reports/final/run.json").read_text())
    assert final_run["variant"] == best["variant"] and final["epochs"] == best["epochs"]
    registry = json.loads((project / "models/registry.json").read_text())
    store_ids = json.loads((project / "models/final/runs.json").read_text())
    assert 0 <= final["test_accuracy"] <= 1 and registry["promoted"] is True and store_ids["run_id"]
    predictions = (project / "reports/final/predictions.csv").read_text().splitlines()
    assert predictions[0] == "row,actual,predicted,probability" and len(predictions) == 49
    assert (project / "reports/final/roc.csv").read_text().startswith("fpr,tpr\n0.000000,0.000000\n")
    assert (project / "models/final/model.keras").is_file()
    for name in ("confusion_matrix.png", "roc_curve.png"):
        assert (project / "reports/final/plots" / name).stat().st_size > 0
    assert {p.name for p in (project / "reports/compare/plots").iterdir()} >= {
        "val_bce_all.png",
        "val_accuracy_all.png",
    }
    metrics_show = dvc(project, "metrics", "show", env=env).stdout
    assert "reports/train/base_1layer/metrics.json" in metrics_show and "reports/final/metrics.json" in metrics_show


def test_what_git_holds_under_reports_names_no_run_id_model_id_or_registry_version(fixture_pipeline):
    """A clone's MLflow store has other ids: the committed results name none of this one's."""
    project, _, _ = fixture_pipeline
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    ids = [run.info.run_id for run in client.search_runs([experiment.experiment_id])]
    ids += [model.model_id for model in client.search_logged_models([experiment.experiment_id])]
    assert len(ids) > 10
    committed = {path: path.read_text() for path in (project / "reports").rglob("*") if path.suffix in TEXT_FILES}
    for path, text in committed.items():
        assert not [i for i in ids if i in text], path
    page = (project / "reports/README.md").read_text()
    assert "registry" not in page.lower() and not re.search(r"version \d", page)


def test_compare_and_final_runs_are_tracked_and_registered(fixture_pipeline):
    project, _, _ = fixture_pipeline
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    runs = client.search_runs([experiment.experiment_id])
    compare = [r for r in runs if r.data.tags.get("stage") == "compare"]
    assert len(compare) == 1
    parents = {r.data.tags["variant"]: r.info.run_id for r in runs if r.data.tags.get("level") == "variant"}
    assert compare[0].data.tags["compared.base_1layer"] == parents["base_1layer"]
    best = json.loads((project / "reports/compare/best.json").read_text())["variant"]
    assert compare[0].info.run_name == f"compare: {best} wins"  # the runs list shows the answer
    champion = client.get_model_version_by_alias("imdb-sentiment", "champion")
    text_champion = client.get_model_version_by_alias("imdb-sentiment-text", "champion")
    assert champion.run_id == text_champion.run_id
    assert "test_accuracy" in champion.tags


def test_predict_command_scores_text_and_files(fixture_pipeline, tmp_path):
    project, _, _ = fixture_pipeline
    result = run_stage(project, "predict", "text=w1 w2 w3, w4!")
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "# model: models:/imdb-sentiment-text@champion"
    assert lines[1] == "line\tprobability\tlabel\tknown_words\treview"
    line, probability, label, known, review = lines[2].split("\t")
    assert known.endswith("%")
    assert line == "1" and 0 <= float(probability) <= 1 and label in {"positive", "negative"}
    assert review == "w1 w2 w3, w4!"
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("w5 w6\x85w7\n\nw7 w8 w9\nsomething else entirely\n")
    scored = run_stage(project, "predict", f"file={reviews}")
    assert [row.split("\t")[0] for row in scored.stdout.strip().split("\n")[2:]] == ["1", "3", "4"]
    assert "skipped blank lines: 1 (lines 2)" in scored.stderr
    empty = run_stage(project, "predict", "text=' '", check=False)
    assert empty.returncode == 2 and empty.stderr.strip() == "error: text is empty: give a review to score"


def test_the_console_command_predicts_from_any_folder_and_leaves_nothing_there(fixture_pipeline, tmp_path):
    """``imdb-sentiment predict`` (the installed console script) from a folder that is no project, with
    MLFLOW_TRACKING_URI naming the project's store: the same scores as the stage script in the project."""
    project, _, _ = fixture_pipeline
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = str(Path(sys.executable).parent / "imdb-sentiment")
    store = {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    one = run([command, "predict", "--json", "w1 w2 w3, w4!"], elsewhere, env=store)
    printed = json.loads(one.stdout)
    assert printed["model"] == "models:/imdb-sentiment-text@champion" and len(printed["reviews"]) == 1
    in_project = run_stage(project, "predict", "text=w1 w2 w3, w4!", "output=json")
    assert json.loads(in_project.stdout) == printed
    piped = subprocess.run(
        [command, "predict", "--file", "-"],
        cwd=elsewhere,
        env={**os.environ, **store},
        input="w5 w6\n\nw7 w8 w9\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert [row.split("\t")[0] for row in piped.stdout.strip().split("\n")[2:]] == ["1", "3"]
    assert list(elsewhere.iterdir()) == []  # no logs/, .hydra/, mlflow.db or lock file


def test_predict_falls_back_to_the_last_final_model(fixture_pipeline):
    project, _, _ = fixture_pipeline
    result = run_stage(project, "predict", "text=w1 w2", "final.text_model_name=nobody")
    assert result.stdout.startswith(f"# model: {Path('models/final/model.keras')}")
    assert "cannot be loaded" in result.stderr


def test_served_text_model_answers_review_strings(fixture_pipeline):
    project, _, _ = fixture_pipeline
    with served("models:/imdb-sentiment-text@champion", f"sqlite:///{project / 'mlflow.db'}", cwd=project) as url:
        status, body = post(url, {"inputs": ["w1 w2 w3", "w4 w5, w6!", "w40 w50"]})  # the fixture's 30 words
        assert status == 200, body
        *predictions, beyond = body["predictions"]
        assert len(predictions) == 2 and beyond["sentiment"] == "unknown" and beyond.get("probability") is None
        assert all(0 <= p["probability"] <= 1 and p["label"] in (0, 1) for p in predictions)
        assert all(p["sentiment"] == ("negative", "positive")[p["label"]] for p in predictions)
        status, _ = post(url, b"{not json")
        assert 400 <= status < 500
