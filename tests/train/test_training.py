"""The train stage on the fixture: its outputs, everything MLflow should hold, and its start-up refusals."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from helpers.config import yaml_config
from helpers.project import copy_project, run_stage
from mlflow import MlflowClient

FAST = [
    "trainer.max_epochs=4",
    "trainer.patience=1",
    "trainer.eval_batch_size=8",
    "trainer.batch_size=8",
    "trainer.verbose=false",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, vectorized_fixture):
    """One real train-stage run (2 seeds) on a copy of the vectorized fixture, logging to a SQLite store in a temp
    dir."""
    source, overrides = vectorized_fixture
    project = copy_project(source, tmp_path_factory.mktemp("trained") / "project")
    store = project.parent / "store"
    store.mkdir()
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    result = run_stage(project, "train", "model=l2_3layer", "trainer.seeds=[0,1]", *FAST, *overrides, env=env)
    return project, env["MLFLOW_TRACKING_URI"], result


def test_train_stage_writes_models_metrics_and_history(trained):
    project, _, _ = trained
    variant_dir = project / "models/variants/l2_3layer"
    assert sorted(p.name for p in variant_dir.iterdir()) == ["runs.json", "seed_0.keras", "seed_1.keras"]
    runs = json.loads((variant_dir / "runs.json").read_text())  # this store's ids: DVC-cached, not in git
    assert runs["variant"] == "l2_3layer" and runs["run_id"] and set(runs["seed_run_ids"]) == {"0", "1"}
    reports = project / "reports/train/l2_3layer"
    metrics = json.loads((reports / "metrics.json").read_text())
    seed_runs = json.loads((reports / "seeds.json").read_text())
    assert seed_runs["variant"] == "l2_3layer" and seed_runs["loss_function"] == "mse"
    seeds = seed_runs["seeds"]
    assert metrics["seeds"] == 2 and set(seeds) == {"0", "1"}
    committed = "".join(path.read_text() for path in reports.rglob("*") if path.is_file())
    for run_id in [runs["run_id"], *runs["seed_run_ids"].values()]:
        assert run_id not in committed
    assert set(metrics) == {
        "best_val_accuracy",
        "best_val_accuracy_std",
        "best_val_bce",
        "best_val_bce_std",
        "best_val_loss",
        "best_val_loss_std",
        "best_epoch",
        "epochs_run",
        "train_seconds",
        "seeds",
        "learned",  # 1: the fixture's variant learned (0 is compare's "did not learn (chance)")
    }
    for key in ("best_val_accuracy", "best_val_bce", "best_val_loss", "best_epoch", "epochs_run", "train_seconds"):
        values = [seeds[seed][key] for seed in ("0", "1")]
        assert metrics[key] == pytest.approx(np.mean(values))
        if key.startswith("best_val"):
            assert metrics[f"{key}_std"] == pytest.approx(np.std(values, ddof=1))
    history = (project / "reports/train/l2_3layer/history/seed_0.csv").read_text().splitlines()
    assert history[0] == "epoch,accuracy,bce,loss,val_accuracy,val_bce,val_loss"
    assert len(history) - 1 == seeds["0"]["epochs_run"]
    mean = (reports / "history_mean.csv").read_text().splitlines()
    assert mean[0] == history[0] and len(mean) - 1 == max(run["epochs_run"] for run in seeds.values())


def test_mlflow_holds_parent_and_child_runs_with_params_metrics_figures_and_model(trained):
    project, uri, _ = trained
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("imdb-sentiment")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("level") == "variant"]
    children = [r for r in runs if r.data.tags.get("level") == "seed"]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(
        np.mean([c.data.metrics["best_val_accuracy"] for c in children])
    )
    assert parent.data.tags["loss_function"] == "mse" and parent.data.tags["learned"] == "true"
    seeds = json.loads((project / "reports/train/l2_3layer/seeds.json").read_text())["seeds"]
    summary = {key.replace("loss", "loss_mse") for key in seeds["0"]}  # MLflow names a loss with its function
    assert "best_val_loss_mse" in summary and "saved_val_bce" in summary
    curves = {f"{side}_{key}" for side in ("train", "val") for key in ("accuracy", "bce", "loss_mse")}
    assert set(parent.data.metrics) == summary | {f"{key}_std" for key in summary | curves} | curves
    assert summary <= set(children[0].data.metrics)
    longest = max(int(c.data.metrics["epochs_run"]) for c in children)
    for key in curves:  # the seeds' mean per epoch, so the chart view overlays the variants' curves
        mean = client.get_metric_history(parent.info.run_id, key)
        assert sorted(m.step for m in mean) == list(range(1, longest + 1)), key
        first = [client.get_metric_history(c.info.run_id, key)[0].value for c in children]
        assert next(m.value for m in mean if m.step == 1) == pytest.approx(np.mean(first)), key
        spread = client.get_metric_history(parent.info.run_id, f"{key}_std")
        assert next(m.value for m in spread if m.step == 1) == pytest.approx(np.std(first, ddof=1)), key
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    for run in runs:
        assert "l2_3layer" in run.data.tags["mlflow.note.content"]
        assert not [key for key in run.data.params if key.startswith(("paths.", "tracking.")) or "mirror" in key]
        assert not [key for key in run.data.params if key.startswith(("compare.", "final.", "report."))], run.info
        assert "trainer.verbose" not in run.data.params
    for child in children:
        params = child.data.params
        assert params["model.units"] == "64" and params["model.name"] == "l2_3layer"
        assert params["trainer.batch_size"] == "8" and params["model.regularizer"] == "l2"
        assert params["data.num_words"] == "30" and params["trainer.seed"] == child.data.tags["seed"]
        assert "trainer.seeds" not in params  # a seed run is one seed
        assert child.data.tags["stage"] == "train" and child.data.tags["variant"] == "l2_3layer"
        epochs = int(child.data.metrics["epochs_run"])
        for key in ("train_loss_mse", "train_accuracy", "train_bce", "val_loss_mse", "val_accuracy", "val_bce"):
            history = client.get_metric_history(child.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(1, epochs + 1))
        assert 1 <= child.data.metrics["best_epoch"] <= epochs
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"loss_curves.png", "accuracy_curves.png", "model_summary.txt", "history.csv"} <= artifacts
        assert child.inputs.dataset_inputs, "the features must be logged as a dataset input"
        dataset = child.inputs.dataset_inputs[0].dataset
        manifest = json.loads((project / "data/processed/manifest.json").read_text())
        assert dataset.digest == manifest["digest"][:32]
    models = client.search_logged_models([experiment.experiment_id])
    assert sorted(m.name for m in models) == ["l2_3layer-seed0", "l2_3layer-seed1"]
    seed_runs = {child.info.run_id: child for child in children}
    for logged in models:  # each logged model carries the validation metrics of its own weights
        own = {metric.key: metric.value for metric in logged.metrics}
        run = seed_runs[logged.source_run_id]
        for key in ("saved_val_accuracy", "saved_val_bce", "saved_val_loss_mse"):
            assert own[key] == run.data.metrics[key]
        assert own["saved_val_accuracy"] == pytest.approx(run.data.metrics["best_val_accuracy"])
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{models[0].model_id}")
    example = model.input_example
    assert example.shape == (2, 30) and example.dtype == np.float32
    predictions = np.asarray(model.predict(example))
    assert predictions.shape == (2, 1) and np.all((predictions >= 0) & (predictions <= 1))
    signature = model.metadata.signature.inputs.to_dict()[0]
    assert signature["tensor-spec"]["dtype"] == "float32" and list(signature["tensor-spec"]["shape"]) == [-1, 30]


def test_saved_model_reloads_with_plain_keras(trained):
    import keras

    project, _, _ = trained
    model = keras.models.load_model(project / "models/variants/l2_3layer/seed_0.keras")
    assert model.predict(np.zeros((3, 30), np.float32), verbose=0).shape == (3, 1)


def test_misspelt_variant_lists_the_options(project):
    result = run_stage(project, "train", "model=l1_3layr", check=False)
    assert result.returncode != 0
    assert "l1_3layr" in result.stderr and "Available options" in result.stderr
    for variant in ("base_1layer", "l1_3layer", "l2_1layer", "l2_3layer"):
        assert variant in result.stderr


def test_bad_value_fails_before_training_or_tracking(project):
    result = run_stage(project, "train", "model.dropout=1.5", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: model.dropout=1.5 is not allowed: a number in [0, 1)"
    assert not (project / "mlflow.db").exists() and not (project / "models").exists()


def test_a_variant_at_chance_is_flagged_on_its_run_and_in_the_log(tmp_path, caplog):
    """Its summary numbers would read like any other variant's: the run's tag and description say it."""
    import mlflow

    from imdb_sentiment.model.training import SeedResult
    from imdb_sentiment.tracking.descriptions import DESCRIPTION
    from imdb_sentiment.train.variants import flag_learning

    cfg = yaml_config()
    stuck = {seed: (f"run-{seed}", SeedResult(seed, {"val_accuracy": [0.4947] * 5}, {}, None)) for seed in (0, 1)}
    learning = {0: ("run-0", SeedResult(0, {"val_accuracy": [0.51, 0.7, 0.86]}, {}, None))}
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("chance")  # an earlier test's active experiment is not in this store
    with mlflow.start_run() as run:
        assert flag_learning(cfg, stuck) is False
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["learned"] == "false" and "did not learn (chance)" in tags[DESCRIPTION]
    assert f"{cfg.model.name} did not learn (chance)" in caplog.text
    with mlflow.start_run() as run:
        assert flag_learning(cfg, learning) is True
    assert mlflow.get_run(run.info.run_id).data.tags["learned"] == "true"
