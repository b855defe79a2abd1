"""DVC experiments run in a temporary copy of the repo: their MLflow runs must still reach the real store."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from conftest import run
from test_end_to_end import reproduced_fixture_pipeline
from test_pipeline import dvc

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def experiment_project(tmp_path_factory, keras_mirror):
    project, env, _ = reproduced_fixture_pipeline(tmp_path_factory.mktemp("exps"), keras_mirror)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline results"], project)
    return project, env


def test_temp_dir_experiment_logs_to_the_projects_store_with_its_name(experiment_project):
    project, env = experiment_project
    before = {p.name for p in project.iterdir()}
    dvc(project, "exp", "run", "--temp", "-n", "fewer-epochs", "-S", "conf/trainer/default.yaml:max_epochs=2",
        env=env)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    runs = client.search_runs([experiment.experiment_id], "tags.dvc_exp_name = 'fewer-epochs'")
    stages = {r.data.tags["stage"] for r in runs}
    assert {"train", "compare", "retrain_final"} <= stages, stages
    seed_runs = [r for r in runs if r.data.tags.get("level") == "seed"]
    assert seed_runs and all(r.data.params["trainer.max_epochs"] == "2" for r in seed_runs)
    for seed_run in seed_runs:  # artifacts too: in the project's mlruns/, not the deleted temp copy
        assert seed_run.info.artifact_uri.startswith((project / "mlruns").as_uri())
        assert {a.path for a in client.list_artifacts(seed_run.info.run_id)} >= {"loss_curves.png", "history.csv"}
    assert {p.name for p in project.iterdir()} == before  # no stray store written beside the project
    shown = json.loads(dvc(project, "exp", "show", "--json", env=env).stdout)
    text = json.dumps(shown)
    assert "fewer-epochs" in text and "max_epochs" in text and "best_val_accuracy" in text


def test_a_teammates_clone_pulls_every_output_and_has_nothing_to_rerun(experiment_project, tmp_path):
    project, env = experiment_project
    remote = tmp_path / "dvc-remote"
    dvc(project, "remote", "add", "-d", "shared", str(remote), env=env)
    dvc(project, "push", env=env)
    run(["git", "add", ".dvc/config"], project)
    run(["git", "commit", "-qm", "shared DVC remote"], project)
    clone = tmp_path / "teammate"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    dvc(clone, "pull", env=env)
    for path in ("data/processed/manifest.json", "models/final/model.keras", "reports/final/metrics.json",
                 "reports/compare/best.json", "reports/train/base_1layer/history/seed_0.csv"):
        assert (clone / path).read_bytes() == (project / path).read_bytes(), path
    assert "up to date" in dvc(clone, "status", env=env).stdout
    assert "Data and pipelines are up to date" in dvc(clone, "repro", env=env).stdout
