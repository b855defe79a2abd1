"""The train stage on the fixture: outputs, reproducibility, and everything MLflow should hold."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from conftest import run_stage, vectorized_project
from mlflow import MlflowClient
from test_config import compose_config, from_yaml

from imdb_sentiment.config.schema import Loss, Optimizer, Regularizer, validate
from imdb_sentiment.data.features import load_features
from imdb_sentiment.model.batches import CsrRows
from imdb_sentiment.model.training import SeedTrainer, train_seed

FAST = [
    "trainer.max_epochs=4",
    "trainer.patience=1",
    "trainer.eval_batch_size=8",
    "trainer.batch_size=8",
    "trainer.verbose=false",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, keras_mirror):
    """One real train-stage run (2 seeds) on the fixture, logging to a SQLite store in a temp dir."""
    project, overrides = vectorized_project(tmp_path_factory.mktemp("trained") / "project", keras_mirror)
    store = project.parent / "store"
    store.mkdir()
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    result = run_stage(project, "train", "model=l2_3layer", "trainer.seeds=[0,1]", *FAST, *overrides, env=env)
    return project, env["MLFLOW_TRACKING_URI"], result


def test_train_stage_writes_models_metrics_and_history(trained):
    project, _, _ = trained
    variant_dir = project / "models/variants/l2_3layer"
    assert sorted(p.name for p in variant_dir.iterdir()) == ["seed_0.keras", "seed_1.keras"]
    reports = project / "reports/train/l2_3layer"
    metrics = json.loads((reports / "metrics.json").read_text())
    seed_runs = json.loads((reports / "seeds.json").read_text())
    assert seed_runs["variant"] == "l2_3layer" and seed_runs["parent_run_id"]
    seeds = seed_runs["seeds"]
    assert metrics["seeds"] == 2 and set(seeds) == {"0", "1"} and all(run["run_id"] for run in seeds.values())
    assert set(metrics) == {
        "best_val_accuracy",
        "best_val_accuracy_std",
        "best_val_loss",
        "best_val_loss_std",
        "best_epoch",
        "epochs_run",
        "train_seconds",
        "seeds",
    }
    for key in ("best_val_accuracy", "best_val_loss", "best_epoch", "epochs_run", "train_seconds"):
        values = [seeds[seed][key] for seed in ("0", "1")]
        assert metrics[key] == pytest.approx(np.mean(values))
        if key.startswith("best_val"):
            assert metrics[f"{key}_std"] == pytest.approx(np.std(values, ddof=1))
    history = (project / "reports/train/l2_3layer/history/seed_0.csv").read_text().splitlines()
    assert history[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
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
    seeds = json.loads((project / "reports/train/l2_3layer/seeds.json").read_text())["seeds"]
    summary = set(seeds["0"]) - {"run_id"}
    assert set(parent.data.metrics) == summary | {f"{key}_std" for key in summary}  # one column ranks both
    assert summary <= set(children[0].data.metrics)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    for run in runs:
        assert "l2_3layer" in run.data.tags["mlflow.note.content"]
        assert not [key for key in run.data.params if key.startswith(("paths.", "tracking.")) or "mirror" in key]
    for child in children:
        params = child.data.params
        assert params["model.units"] == "64" and params["model.name"] == "l2_3layer"
        assert params["trainer.batch_size"] == "8" and params["model.regularizer"] == "l2"
        assert params["data.num_words"] == "30" and params["trainer.seed"] == child.data.tags["seed"]
        assert child.data.tags["stage"] == "train" and child.data.tags["variant"] == "l2_3layer"
        epochs = int(child.data.metrics["epochs_run"])
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
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
        for key in ("saved_val_accuracy", "saved_val_loss"):
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


def tiny_features(trained):
    project, _, _ = trained
    return load_features(project / "data/processed", num_words=30, validation_rows=16, splits=("train",))


def test_same_seed_gives_the_same_metrics(trained):
    features = tiny_features(trained)
    cfg = from_yaml(
        "model", name="t", hidden_layers=2, units=8, regularizer=Regularizer.l2, regularization=0.01, dropout=0.5
    )
    trainer = from_yaml("trainer", max_epochs=3, batch_size=8, eval_batch_size=8, patience=5, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    runs = [train_seed(cfg, trainer, seed, train, validation).history for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_seeds_sharing_one_traced_model_match_a_new_model_per_seed(trained):
    features = tiny_features(trained)
    cfg = from_yaml(
        "model", name="t", hidden_layers=2, units=8, regularizer=Regularizer.l2, regularization=0.01, dropout=0.5
    )
    trainer = from_yaml("trainer", max_epochs=3, batch_size=8, eval_batch_size=8, patience=5, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    shared = SeedTrainer(cfg, trainer, train, validation)
    reused = [shared.fit(seed) for seed in (3, 4, 3)]
    assert [r.history for r in reused] == [
        train_seed(cfg, trainer, seed, train, validation).history for seed in (3, 4, 3)
    ]
    weights = [train_seed(cfg, trainer, 4, train, validation).model.get_weights(), reused[1].model.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


# trainer.fast_path on against off, same CSR batches: the observed gap is float32 round-off of different but
# equivalent kernels (CSR vs Keras's sparse matmul, L2Loss vs sum(square), fused vs Keras's optimizer ops): up
# to 1.5e-6 relative in the losses after 6 epochs of these variants (seeds 0-2), no accuracy changed. The fast
# path broken on purpose moved them by 1.6e-3 (l2_3layer, learning rate x1.01), 5.4e-3 (base_1layer, the same)
# and 8.7e-3 (L2 penalty x1.01).
SWITCH_LOSS_RTOL = 2e-5  # ~13x the observed round-off, ~80x under the smallest breakage tried


@pytest.mark.parametrize("variant", ["l2_3layer", "base_1layer"])  # Adam + L2 + dropout, RMSprop
def test_training_with_the_speed_layer_off_gives_the_same_metrics(trained, variant):
    features = tiny_features(trained)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    results = {}
    for fast_path in (True, False):
        cfg = validate(
            compose_config(
                f"model={variant}",
                "trainer.max_epochs=6",
                "trainer.patience=6",
                "trainer.batch_size=8",
                "trainer.eval_batch_size=8",
                "trainer.verbose=false",
                "trainer.steps_per_execution=2",
                f"trainer.fast_path={str(fast_path).lower()}",
            )
        )
        seed_trainer = SeedTrainer(cfg.model, cfg.trainer, train, validation)
        results[fast_path] = [seed_trainer.fit(seed) for seed in (0, 1)]
    for fast, stock in zip(results[True], results[False], strict=True):
        assert fast.history.keys() == stock.history.keys() and len(fast.history["loss"]) == 6
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(fast.history[key], stock.history[key], rtol=SWITCH_LOSS_RTOL, atol=0)
        for key in ("accuracy", "val_accuracy"):  # a prediction would have to sit within 1e-6 of 0.5 to flip
            assert fast.history[key] == stock.history[key]
        assert fast.summary["best_epoch"] == stock.summary["best_epoch"]
        assert fast.history["loss"] != stock.history["loss"]  # really two code paths


OVERFITTING = dict(
    name="t", hidden_layers=2, units=32, learning_rate=0.05, optimizer=Optimizer.adam, loss=Loss.binary_crossentropy
)  # overfits the fixture after its first epoch


@pytest.mark.parametrize("restore", [True, False])
def test_the_saved_model_is_the_one_its_metrics_describe(trained, restore):
    """Early stopping past the best epoch: the saved weights are the best epoch's (or, when asked, the last's)."""
    features = tiny_features(trained)
    trainer = from_yaml(
        "trainer",
        max_epochs=30,
        batch_size=8,
        eval_batch_size=8,
        patience=3,
        verbose=False,
        restore_best_weights=restore,
    )
    x_val, y_val = features.validation
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(x_val, y_val)
    result = train_seed(from_yaml("model", **OVERFITTING), trainer, 0, train, validation)
    summary, history = result.summary, result.history
    assert summary["best_epoch"] < summary["epochs_run"], "the fit must go past its best epoch to test this"
    kept = summary["best_epoch"] - 1 if restore else -1
    assert summary["saved_val_loss"] == pytest.approx(history["val_loss"][kept], rel=1e-5)
    assert summary["saved_val_accuracy"] == pytest.approx(history["val_accuracy"][kept])
    probabilities = result.model.predict(x_val.toarray(), verbose=0).reshape(-1)  # the dense model that is saved
    assert np.mean((probabilities >= 0.5) == (y_val == 1)) == pytest.approx(summary["saved_val_accuracy"])
    if restore:
        assert (summary["saved_val_accuracy"], summary["saved_val_loss"]) == pytest.approx(
            (summary["best_val_accuracy"], summary["best_val_loss"]), rel=1e-5
        )


def test_the_fixture_has_a_signal_the_study_model_learns(trained):
    """The fixture's labels follow its words, so a broken training path shows as low validation accuracy."""
    features = tiny_features(trained)
    trainer = from_yaml("trainer", max_epochs=40, batch_size=8, eval_batch_size=8, patience=40, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    result = train_seed(from_yaml("model", name="base", learning_rate=0.01), trainer, 0, train, validation)
    assert result.summary["best_val_accuracy"] > 0.9


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


def test_default_store_is_sqlite_at_the_dvc_root(tmp_path, monkeypatch):
    """Queued DVC experiments run in a temporary copy; DVC_ROOT points at the real project."""
    from imdb_sentiment.config.schema import TrackingConfig
    from imdb_sentiment.tracking.store import setup_tracking

    real_root = tmp_path / "real"
    real_root.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(real_root))
    setup_tracking(TrackingConfig(uri=None, experiment_name="queued", parent_run_id=None))
    assert mlflow.get_tracking_uri() == f"sqlite:///{real_root / 'mlflow.db'}"
    assert (real_root / "mlflow.db").is_file()
    experiment = mlflow.get_experiment_by_name("queued")
    assert experiment.artifact_location == (real_root / "mlruns").as_uri()
