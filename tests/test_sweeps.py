"""Hydra multiruns: every variant in parallel on both cores, and an Optuna search whose best trial becomes a
variant; every run stored correctly."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import CONF_DIR, run_stage, vectorized_project
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient
from overlap import assert_overlapped, spans

from imdb_sentiment.config import ConfigError, validate
from imdb_sentiment.sweep import SweepTracking, check_search_space, variant_config, variant_yaml

SEARCH = "hparams_search=imdb_optuna"
BEST = {
    "model.hidden_layers": 1,
    "model.units": 128,
    "model.dropout": 0.25,
    "model.regularization": 3e-4,
    "model.learning_rate": 1.5e-4,
    "trainer.batch_size": 256,
}


def compose_search(conf_dir=CONF_DIR, *overrides: str):
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return compose(config_name="config", overrides=[SEARCH, *overrides], return_hydra_config=True)


def test_search_config_uses_optuna_over_the_six_settings_of_the_issue():
    cfg = compose_search()
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.direction == "maximize" and cfg.compare.metric.value == "best_val_accuracy"
    assert set(cfg.hydra.sweeper.params) == set(BEST)
    check_search_space(list(cfg.hydra.sweeper.params))
    assert cfg.hydra.sweeper.n_trials <= 20 and list(cfg.trainer.seeds) == [0]
    assert (cfg.model.optimizer.value, cfg.model.regularizer.value, cfg.model.loss.value) == ("adam", "l2", "mse")


def test_a_search_outside_model_and_trainer_is_refused_at_start_up_by_key():
    space = {"model.units": "choice(16, 32)", "features.validation_rows": "choice(10, 20)"}
    with pytest.raises(ConfigError, match=r"hydra.sweeper.params=\['features.validation_rows'\]"):
        SweepTracking(variant_name="tuned", model_dir="conf/model", search_space=space)


def test_the_direction_must_suit_the_metric_trials_return():
    with pytest.raises(
        ConfigError, match="direction='maximize' is not allowed with compare.metric=best_val_loss: use minimize"
    ):
        SweepTracking(variant_name="tuned", model_dir="conf/model", direction="maximize", objective="best_val_loss")
    SweepTracking(variant_name="tuned", model_dir="conf/model", direction="minimize", objective="best_val_loss")


def test_variant_names_must_be_usable_as_a_config_choice():
    with pytest.raises(ConfigError, match="variant_name='my tuned'"):
        SweepTracking(variant_name="my tuned", model_dir="conf/model")


def test_best_trial_is_written_as_a_model_file_that_trains_as_a_named_variant(tmp_path):
    variant = variant_config(compose_search(), BEST, "tuned")
    conf = shutil.copytree(CONF_DIR, tmp_path / "conf")
    (conf / "model" / "tuned.yaml").write_text(variant_yaml(variant, "a test"))
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=["model=tuned"]))
    assert (cfg.model.name, cfg.model.hidden_layers, cfg.model.units, cfg.model.dropout) == ("tuned", 1, 128, 0.25)
    assert (cfg.model.regularization, cfg.model.learning_rate) == (3e-4, 1.5e-4)
    assert (cfg.trainer.batch_size, cfg.trainer.patience, cfg.trainer.max_epochs) == (256, 3, 40)  # as in the trials
    assert cfg.trainer.seeds == [0, 1, 2]  # seeds are not part of a variant: it trains with the study's


@pytest.mark.slow
def test_joblib_multirun_trains_every_variant_in_parallel(tmp_path, keras_mirror):
    project, overrides = vectorized_project(tmp_path / "project", keras_mirror)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_stage(
        project,
        "train",
        "-m",
        "model=glob(*)",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "trainer.seeds=[0]",
        "trainer.max_epochs=4",
        "trainer.batch_size=8",
        "trainer.eval_batch_size=8",
        "trainer.verbose=false",
        *overrides,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert "Joblib.Parallel(n_jobs=2" in result.stderr + result.stdout
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
    variants = {r.data.tags["variant"] for r in runs if r.data.tags.get("level") == "variant"}
    assert variants == {p.stem for p in (CONF_DIR / "model").glob("*.yaml")} >= {"base_1layer", "l2_3layer"}
    assert len(runs) == 2 * len(variants) and {r.info.status for r in runs} == {"FINISHED"}
    # in parallel, not just launched by joblib: two variants' trainings were under way at the same time
    trainings = [r for r in runs if r.data.tags["level"] == "variant"]
    assert_overlapped(spans(trainings, key=lambda r: r.data.tags["variant"]))
    for variant in variants:
        assert json.loads((project / f"reports/train/{variant}/metrics.json").read_text())["seeds"] == 1
        assert (project / f"models/variants/{variant}/seed_0.keras").is_file()
    assert not (project / "multirun").exists() and not (project / "outputs").exists()


@pytest.mark.slow
def test_optuna_sweep_nests_every_trial_under_one_run_and_writes_the_best_variant(tmp_path, keras_mirror):
    project, overrides = vectorized_project(tmp_path / "project", keras_mirror)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"MLFLOW_TRACKING_URI": uri}
    result = run_stage(
        project,
        "train",
        SEARCH,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "trainer.max_epochs=3",
        "trainer.eval_batch_size=8",
        *overrides,
        env=env,
    )
    assert "Joblib.Parallel(n_jobs=2" in result.stderr + result.stdout
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
    by_level = {level: [r for r in runs if r.data.tags.get("level") == level] for level in ("sweep", "variant", "seed")}
    [sweep] = by_level["sweep"]
    trials, seeds = by_level["variant"], by_level["seed"]
    assert len(trials) == 4 and len(seeds) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    assert_overlapped(spans(trials))  # each batch's two trials trained at the same time, in two workers
    assert all(t.data.tags["mlflow.parentRunId"] == sweep.info.run_id for t in trials)
    assert {s.data.tags["mlflow.parentRunId"] for s in seeds} == {t.info.run_id for t in trials}
    assert len({(t.data.params["model.units"], t.data.params["model.dropout"]) for t in trials}) == 4
    assert sweep.data.params["search.model.units"] == "choice(16, 32, 64, 128)"
    best_trial = max(trials, key=lambda t: t.data.metrics["best_val_accuracy"])
    assert sweep.data.metrics["best_best_val_accuracy"] == pytest.approx(best_trial.data.metrics["best_val_accuracy"])
    assert {a.path for a in client.list_artifacts(sweep.info.run_id)} == {"optimization_results.yaml", "tuned.yaml"}

    tuned = yaml.safe_load((project / "conf/model/tuned.yaml").read_text())
    assert tuned["model"]["name"] == "tuned"
    for key in BEST:
        section, field = key.split(".")
        assert str(tuned[section][field]) == best_trial.data.params[key], key
    assert tuned["trainer"]["max_epochs"] == 3  # the trials' own training conditions
    assert not (project / "models").exists() and not (project / "reports/train").exists()  # trials keep to logs/

    run_stage(
        project,
        "train",
        "model=tuned",
        "trainer.seeds=[0]",
        "trainer.max_epochs=2",
        "trainer.verbose=false",
        *overrides,
        env=env,
    )
    metrics = json.loads((project / "reports/train/tuned/metrics.json").read_text())
    seed_runs = json.loads((project / "reports/train/tuned/seeds.json").read_text())
    assert seed_runs["variant"] == "tuned" and metrics["seeds"] == 1 and list(seed_runs["seeds"]) == ["0"]
