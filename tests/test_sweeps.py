"""Hydra multirun: every variant in one command, in parallel on both cores, each run stored correctly."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from conftest import fixture_overrides, make_project, run_stage

pytestmark = pytest.mark.slow


def test_joblib_multirun_trains_every_variant_in_parallel(tmp_path, keras_mirror):
    project = make_project(tmp_path / "project")
    overrides = fixture_overrides(keras_mirror)
    run_stage(project, "fetch", *overrides)
    run_stage(project, "vectorize", *overrides)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_stage(project, "train", "-m", "model=glob(*)", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                       "trainer.seeds=[0]", "trainer.max_epochs=4", "trainer.batch_size=8", "trainer.eval_batch_size=8",
                       "trainer.verbose=false", *overrides, env={"MLFLOW_TRACKING_URI": uri})
    assert "Joblib.Parallel(n_jobs=2" in result.stderr + result.stdout
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
    variants = {r.data.tags["variant"] for r in runs if r.data.tags.get("level") == "variant"}
    assert variants == {"base_1layer", "l1_3layer", "l2_1layer", "l2_3layer"}
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    for variant in variants:
        assert json.loads((project / f"reports/train/{variant}/metrics.json").read_text())["seeds"] == 1
        assert (project / f"models/variants/{variant}/seed_0.keras").is_file()
    assert not (project / "multirun").exists() and not (project / "outputs").exists()
