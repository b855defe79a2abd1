"""Every feature set the whole study ran with, side by side on the results page.

Each run of the study (``dvc repro``, or ``dvc exp run -S features=<name>``) keeps its answer in one row,
``reports/feature_sets/<features>.json``, written by the side_by_side stage, the first stage that has every
number of the row (the report stage cannot write it: it depends on the whole folder, which holds the rows
other runs committed, and DVC refuses a stage whose output is inside its own dependency). The report stage
renders every row it finds there, this run's in bold.
"""

from __future__ import annotations

from pathlib import Path

from imdb_sentiment.config.schema import Config
from imdb_sentiment.report.answers import minutes, target_cell
from imdb_sentiment.report.inputs import PageInputs
from imdb_sentiment.runtime.outputs import read_json, write_json


def feature_set_record(cfg: Config) -> dict:
    """This run's answer in one row, from the compare, final and side_by_side stages' files."""
    paths, features = cfg.paths, cfg.features
    best = read_json(Path(paths.choice), "compare")
    final = read_json(Path(paths.final_reports) / "metrics.json", "final")
    paired = Path(paths.side_by_side_reports)
    numbers, words = (
        read_json(paired / "metrics.json", "side_by_side"),
        read_json(paired / "comparison.json", "side_by_side"),
    )
    stats = read_json(Path(paths.data_stats), "vectorize")
    return {
        "features": features.name,
        "words": cfg.data.num_words,
        "bigrams": features.bigrams,
        "trigrams": features.trigrams,
        "nb_scaling": features.nb_scaling,
        "winner": best["variant"],
        "metric": best["metric"],
        "winner_mean": best["value"],
        "winner_std": best["std"],
        "seeds": best["seeds"],
        "test_accuracy": final["test_accuracy"],
        "train_rows": final["train_rows"],
        "notebook_variant": words["notebook_variant"],
        "notebook_test_accuracy": numbers["notebook_test_accuracy"],
        "mcnemar_p_value": words["mcnemar_p_value"],
        "training_rows": stats["train"]["rows"],
        "validation_rows": stats["split"]["validation_rows"],  # the rows the choice's metric is computed on
        "nb_ratio_rows": stats.get("nb_ratio_rows", {}),  # the training rows each set of ratios counts
    }


def write_feature_set_record(cfg: Config) -> Path:
    path = Path(cfg.paths.feature_sets) / f"{cfg.features.name}.json"
    write_json(path, feature_set_record(cfg))
    return path


def columns_cell(record: dict) -> str:
    columns = f"{record['words']:,} words" + (f" + {record['bigrams']:,} bigrams" if record["bigrams"] else "")
    columns += f" + {record['trigrams']:,} trigrams" if record.get("trigrams") else ""
    return columns + (", naive-Bayes scaled" if record["nb_scaling"] else "")


def feature_sets_section(inputs: PageInputs) -> list[str]:
    current, targets = inputs.run["features"], inputs.yardsticks.accuracy_targets
    lines = [
        "## Feature sets",
        "",
        "Each row is a whole run of the study with one `conf/features/` file (`dvc exp run -S features=<name>`), "
        "kept by that run in `reports/feature_sets/<name>.json`; this run's row is in bold, best test accuracy "
        "first. The notebook's choice is re-run on the same features and rows, and McNemar's test pairs its test "
        "predictions with the final model's.",
        "",
        "| features | columns | winner: mean validation metric over seeds | final test accuracy | notebook's choice "
        "re-run | McNemar p | target | whole study |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    studies = inputs.timings.get("studies", {})
    for record in sorted(inputs.feature_sets, key=lambda r: -r["test_accuracy"]):
        mark = "**" if record["features"] == current else ""
        target = targets.get(record["features"])
        lines.append(
            f"| {mark}{record['features']}{mark} | {columns_cell(record)} | {record['winner']}: {record['metric']} "
            f"{record['winner_mean']:.4f} ± {record['winner_std']:.4f} ({record['seeds']} seeds) | "
            f"{mark}{record['test_accuracy']:.4f}{mark} | {record['notebook_variant']}: "
            f"{record['notebook_test_accuracy']:.4f} | {record['mcnemar_p_value']:.1e} | "
            + ("–" if target is None else target_cell(record["test_accuracy"], target))
            + f" | {study_cell(studies.get(record['features']))} |"
        )
    return lines


def study_cell(study: dict | None) -> str:
    return "–" if study is None else minutes(study["seconds"])
