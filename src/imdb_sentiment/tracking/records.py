"""The ids of this MLflow store that the stages hand on to each other, kept out of git.

Git holds what any clone can trust: numbers and words. Run ids, logged-model URIs and registry versions name
things in one person's ``mlflow.db``, so they are written beside the DVC-cached models they belong to
(``models/variants/<variant>/runs.json``, ``models/final/runs.json``, ``models/registry.json``), where a rerun
replaces them together with those models.
"""

from __future__ import annotations

from pathlib import Path

from imdb_sentiment.runtime.outputs import read_json, write_json

RUNS = "runs.json"


def write_variant_runs(models_dir: Path, variant: str, run_id: str, seed_run_ids: dict[int, str]) -> None:
    """A train stage's runs: the variant's and one per seed."""
    seeds = {str(seed): seed_run for seed, seed_run in seed_run_ids.items()}
    write_json(Path(models_dir) / RUNS, {"variant": variant, "run_id": run_id, "seed_run_ids": seeds})


def read_variant_runs(variants_models: Path, variants: list[str]) -> dict[str, str]:
    """Each variant's run id in this store, for the variants whose train stage recorded one here."""
    runs = {}
    for variant in variants:
        path = Path(variants_models) / variant / RUNS
        if path.is_file():
            runs[variant] = str(read_json(path, f"train@{variant}")["run_id"])
    return runs


def write_final_runs(models_dir: Path, run_id: str, keras_model_uri: str, text_model_uri: str) -> None:
    """The final stage's run and its two logged models (``models:/<model id>``), which register registers."""
    record = {"run_id": run_id, "keras_model_uri": keras_model_uri, "text_model_uri": text_model_uri}
    write_json(Path(models_dir) / RUNS, record)


def read_final_runs(models_dir: Path) -> dict[str, str]:
    return read_json(Path(models_dir) / RUNS, "final")
