"""The one place output paths are named: every stage reads and writes where ``conf/paths/default.yaml`` says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING


@dataclass
class PathsConfig:
    """Every input and output path of the stages (dvc.yaml names the same; tests/pipeline/test_pipeline.py checks)."""

    data_dir: str = MISSING
    raw_dir: str = MISSING
    interim_dir: str = MISSING
    processed_dir: str = MISSING
    models_dir: str = MISSING
    reports_dir: str = MISSING
    sequences: str = MISSING
    data_stats: str = MISSING
    train_reports: str = MISSING
    variants_models: str = MISSING
    compare_reports: str = MISSING
    choice: str = MISSING
    final_models: str = MISSING
    final_reports: str = MISSING
    baselines_reports: str = MISSING
    side_by_side_reports: str = MISSING
    registry_record: str = MISSING
    results_page: str = MISSING
    feature_sets: str = MISSING
    timings: str = MISSING

    def variant_models(self, variant: str) -> Path:
        return Path(self.variants_models) / variant

    def variant_reports(self, variant: str) -> Path:
        return Path(self.train_reports) / variant
