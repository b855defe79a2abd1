"""The results page's inputs: the compare, final, side_by_side and register stages' files read back, and the
numbers derived from them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from imdb_sentiment.config.schema import Config, ReportConfig
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.runtime.outputs import read_json


@dataclass
class PageInputs:
    summary: list[dict]  # compare's rows, one per variant: <key>_mean and <key>_std
    best: dict  # compare's choice (best.json)
    metrics: dict  # the final model's test metrics
    run: dict  # the final run's text fields (run.json) and the comparison in words
    store: dict  # this MLflow store's ids: the final run's (models/final/runs.json) and the registry's (if any)
    side_by_side: dict  # both protocols' and the notebook's choice's test numbers (side_by_side/metrics.json)
    stats: dict  # the vectorize stage's stats.json: the features and the stage's time and memory
    figures: list[str]  # the figures' paths, relative to the page
    notebook: dict  # the notebook's choice (variant, epochs) and its published test_accuracy and train_rows
    yardsticks: ReportConfig  # the targets (conf/report/)
    feature_sets: list[dict]  # every run's row, this one's included, one per conf/features/ file (feature_sets/)
    timings: dict  # whole-run times measured by benchmarks/run.py (--study, --make-run); {} when none is


def read_inputs(cfg: Config) -> PageInputs:
    paths, page, report = cfg.paths, Path(cfg.paths.results_page), cfg.report
    compare, final, paired = Path(paths.compare_reports), Path(paths.final_reports), Path(paths.side_by_side_reports)
    plots = sorted((compare / "plots").glob("*.png")) + sorted((final / "plots").glob("*.png"))
    return PageInputs(
        summary=read_json(compare / "summary.json", "compare"),
        best=read_json(Path(paths.choice), "compare"),
        metrics=read_json(final / "metrics.json", "final"),
        run={**read_json(final / "run.json", "final"), **read_json(paired / "comparison.json", "side_by_side")},
        store=store_ids(cfg),
        side_by_side=read_json(paired / "metrics.json", "side_by_side"),
        stats=read_json(Path(paths.data_stats), "vectorize"),
        figures=[Path(os.path.relpath(p, page.parent)).as_posix() for p in plots],
        notebook={
            "variant": cfg.final.notebook_variant,
            "epochs": cfg.final.notebook_epochs,
            "test_accuracy": report.published_test_accuracy,
            "train_rows": report.published_train_rows,
        },
        yardsticks=report,
        feature_sets=[read_json(path, "side_by_side") for path in sorted(Path(paths.feature_sets).glob("*.json"))],
        timings=read_timings(Path(paths.timings)),
    )


def read_timings(path: Path) -> dict:
    """The whole-run times benchmarks/run.py measured ({} when none were); no stage writes them, so an unreadable
    file names the benchmark and git as the remedies, not a stage."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{path} cannot be read ({exc}): measure again (python benchmarks/run.py --study NAME, --make-run REV) "
            f"or restore it (git checkout -- {path})"
        ) from exc


def store_ids(cfg: Config) -> dict:
    """The ids the page must not hold (a clone's store has others) but the stage prints: where to look."""
    from imdb_sentiment.tracking.records import RUNS

    records = (Path(cfg.paths.final_models) / RUNS, Path(cfg.paths.registry_record))
    return {key: value for path in records if path.is_file() for key, value in read_json(path, "final").items()}


def ranked(inputs: PageInputs) -> list[dict]:
    """The variants best first by the choice's metric (accuracy up, loss down), the ones that did not learn
    last, as compare ranked them."""
    key, sign = f"{inputs.best['metric']}_mean", (-1 if "accuracy" in inputs.best["metric"] else 1)
    return sorted(inputs.summary, key=lambda row: (not row.get("learned", True), sign * row[key]))


def gap(winner: dict, row: dict, metric: str) -> tuple[float, float]:
    """How far ``row`` is behind the winner on ``metric``, and the seed spread: the larger std of the two."""
    return abs(winner[f"{metric}_mean"] - row[f"{metric}_mean"]), max(winner[f"{metric}_std"], row[f"{metric}_std"])


def times_spread(lead: float, spread: float) -> str:
    return f"{lead / spread:.1f}×" if spread > 0 else "no spread"


def cell(row: dict, key: str, digits: int) -> str:
    return f"{row[f'{key}_mean']:.{digits}f} ± {row[f'{key}_std']:.{digits}f}"
