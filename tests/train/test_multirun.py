"""Hydra multiruns of the train stage: every variant at once through the joblib launcher, in parallel on both
cores, into one store."""

from __future__ import annotations

import json

import pytest
from helpers.overlap import assert_overlapped, spans
from helpers.project import CONF_DIR, run_stage, vectorized_project
from mlflow import MlflowClient


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
