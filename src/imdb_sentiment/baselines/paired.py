"""The side_by_side stage: the final model and its baselines compared on the same test reviews.

Reads the final stage's predictions and the baselines stage's, and writes ``metrics.json`` (DVC metrics:
both protocols' test accuracy, the notebook's choice, McNemar's exact test and the difference's 95 % interval,
:mod:`imdb_sentiment.baselines.significance`) and the sentence the results page prints; the numbers and the
sentence are also logged to the final MLflow run, beside the test scores they are read against.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
from mlflow import MlflowClient

from imdb_sentiment.baselines.significance import describe, paired_test
from imdb_sentiment.config.schema import Config, TrainOn
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.runtime.outputs import read_json, write_json
from imdb_sentiment.tracking.records import read_final_runs
from imdb_sentiment.tracking.store import setup_tracking

PREDICTIONS = "predictions.csv"  # the baselines stage's: each baseline's predicted label per test review
COMPARISON = "comparison.json"  # beside the stage's metrics.json: the notebook's choice and the test in words


def other_protocol(train_on: TrainOn) -> TrainOn:
    return TrainOn.full if train_on is TrainOn.partial else TrainOn.partial


def read_columns(path: Path, stage: str) -> dict[str, np.ndarray]:
    """A predictions CSV as integer columns (the probability column, if any, is left out)."""
    try:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
        return {key: np.array([int(row[key]) for row in rows]) for key in rows[0] if key != "probability"}
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise DataError(f"{path} cannot be read ({exc}): run the {stage} stage (dvc repro {stage})") from exc


def side_by_side_numbers(cfg: Config) -> tuple[dict, dict, str]:
    """The stage's metrics; its words (the results page's sentence on the notebook's choice, McNemar's p
    itself); and the final run's id in this store."""
    final_dir, baselines_dir = Path(cfg.paths.final_reports), Path(cfg.paths.baselines_reports)
    ours, final_metrics = (
        read_columns(final_dir / "predictions.csv", "final"),
        read_json(final_dir / "metrics.json", "final"),
    )
    base, base_metrics = (
        read_columns(baselines_dir / PREDICTIONS, "baselines"),
        read_json(baselines_dir / "metrics.json", "baselines"),
    )
    run = read_json(final_dir / "run.json", "final")
    protocol, other = TrainOn(run["train_on"]), other_protocol(TrainOn(run["train_on"]))
    variant, notebook = run["variant"], f"notebook_{cfg.final.notebook_variant}"
    if not np.array_equal(ours["actual"], base["actual"]):
        raise DataError(f"{final_dir} and {baselines_dir} score different test reviews: run dvc repro")
    test = paired_test(ours["actual"], ours["predicted"], base[notebook])
    numbers = {
        f"test_accuracy_{protocol.value}": test.accuracy_a,  # ours: the paired test's own count
        f"test_accuracy_{other.value}": base_metrics[f"{variant}_{other.value}_test_accuracy"],
        f"train_rows_{protocol.value}": final_metrics["train_rows"],
        f"train_rows_{other.value}": base_metrics[f"{variant}_{other.value}_train_rows"],
        "notebook_test_accuracy": test.accuracy_b,
        "ours_minus_notebook": test.difference,
        "ours_minus_notebook_low": test.ci_low,
        "ours_minus_notebook_high": test.ci_high,
        # -log10 p: `dvc metrics show` rounds to 5 decimals, so a p of 2e-28 would read 0.0; the p itself is in
        # comparison.json
        "mcnemar_minus_log10_p": -math.log10(max(test.p_value, sys.float_info.min)),
        "only_ours_right": test.only_a_right,
        "only_notebook_right": test.only_b_right,
    }
    ours_name = f"{variant} ({final_metrics['epochs']} epochs)"
    notebook_name = f"the notebook's {cfg.final.notebook_variant} ({cfg.final.notebook_epochs} epochs)"
    words = {
        "notebook_variant": cfg.final.notebook_variant,
        "notebook_comparison": describe(test, ours_name, notebook_name),
        "mcnemar_p_value": test.p_value,
    }
    return numbers, words, read_final_runs(Path(cfg.paths.final_models))["run_id"]


def write_side_by_side(cfg: Config) -> dict:
    """The side_by_side stage: the paired test written, and logged to the final run."""
    numbers, words, run_id = side_by_side_numbers(cfg)
    reports = Path(cfg.paths.side_by_side_reports)
    write_json(reports / "metrics.json", numbers)
    write_json(reports / COMPARISON, words)
    setup_tracking(cfg.tracking)
    client = MlflowClient()
    for key, value in numbers.items():
        client.log_metric(run_id, key, value)
    client.set_tag(run_id, "notebook_comparison", words["notebook_comparison"])
    return numbers
