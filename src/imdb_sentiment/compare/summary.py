"""The compare stage: the ranked variants as tables and plots, the choice in ``best.json``, and an MLflow run.

What is chosen and why comes from :mod:`imdb_sentiment.compare.ranking`; this module only writes it down. It imports
neither TensorFlow nor the training code, so the stage's DVC dependencies stay the files it really reads.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from pathlib import Path

from imdb_sentiment.compare.figures import study_figures
from imdb_sentiment.compare.ranking import Choice, VariantResult, choose, load_results, rank
from imdb_sentiment.config.schema import Config, loss_words
from imdb_sentiment.runtime.outputs import atomic_dir, write_json, write_png, write_text

SUMMARY_COLUMNS = ("best_val_accuracy", "best_val_bce", "best_val_loss", "best_epoch", "epochs_run", "train_seconds")
HEADERS = {  # the table's words: the shared yardstick first, a training loss always with its function
    "best_val_accuracy": "val accuracy",
    "best_val_bce": "val cross-entropy (all variants)",
    "best_val_loss": "val training loss (its function)",
    "best_epoch": "best epoch",
    "epochs_run": "epochs run",
    "train_seconds": "train time (s)",
}


def summary_rows(ranked: list[VariantResult]) -> list[dict]:
    rows = []
    for result in ranked:
        row: dict = {
            "variant": result.variant,
            "seeds": result.seeds,
            "learned": result.learned,
            "loss_function": result.loss_function,
        }
        for key in SUMMARY_COLUMNS:
            row[f"{key}_mean"], row[f"{key}_std"] = result.mean(key), result.std(key)
        rows.append(row)
    return rows


def summary_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def summary_cell(row: dict, key: str) -> str:
    digits = 1 if "seconds" in key or "epoch" in key else 4
    text = f"{row[f'{key}_mean']:.{digits}f} ± {row[f'{key}_std']:.{digits}f}"
    return f"{text} ({loss_words(row.get('loss_function', 'unknown'))})" if key == "best_val_loss" else text


def summary_markdown(rows: list[dict], choice: Choice, features: str) -> str:
    header = "| variant | seeds | " + " | ".join(HEADERS[key] for key in SUMMARY_COLUMNS) + " |"
    lines = [
        "# Variant comparison",
        "",
        f"Ranked by mean {choice.metric} (mean ± std across seeds, each seed at its best epoch). Features: "
        f"{features}. Accuracy and cross-entropy are measured the same way for every variant; the training "
        "loss is each variant's own (MSE or cross-entropy, as named), so compare it only within a row.",
        "",
        header,
        "|" + "---|" * (len(SUMMARY_COLUMNS) + 2),
    ]
    for row in rows:
        cells = [summary_cell(row, key) for key in SUMMARY_COLUMNS]
        name = row["variant"] if row["learned"] else f"{row['variant']} (did not learn: chance)"
        lines.append(f"| {name} | {row['seeds']} | " + " | ".join(cells) + " |")
    lines += ["", f"**Chosen: {choice.variant}, {choice.epochs} epochs.** {choice.reason}", ""]
    return "\n".join(lines)


def variant_run_ids(cfg: Config) -> dict[str, str]:
    """The variants' MLflow runs in this store, from the train stages' ``runs.json`` beside their models (a
    link in the UI only: the comparison itself reads nothing but the reports)."""
    from imdb_sentiment.tracking.records import read_variant_runs

    return read_variant_runs(Path(cfg.paths.variants_models), cfg.compare.variants)


def compare_variants(cfg: Config) -> Choice:
    """The compare stage: summary tables, plots and best.json, then a ``compare`` MLflow run."""
    import mlflow

    from imdb_sentiment.tracking.descriptions import DESCRIPTION
    from imdb_sentiment.tracking.descriptions import features as feature_words
    from imdb_sentiment.tracking.lineage import lineage_tags
    from imdb_sentiment.tracking.runs import tracked_run
    from imdb_sentiment.tracking.store import setup_tracking

    results = load_results(Path(cfg.paths.train_reports), cfg.compare.variants, cfg.trainer.chance_margin)
    ranked = rank(results, cfg.compare.metric)
    choice = choose(results, cfg.compare.metric)
    rows = summary_rows(ranked)
    out = Path(cfg.paths.compare_reports)
    with atomic_dir(out / "plots") as plots_tmp:
        for name, figure in study_figures(results, cfg.compare.runner_up_plots).items():
            write_png(figure, plots_tmp / name)
    write_text(out / "summary.csv", summary_csv(rows))
    summary = summary_markdown(rows, choice, feature_words(cfg))
    write_text(out / "summary.md", summary)
    write_json(out / "summary.json", rows)
    write_json(Path(cfg.paths.choice), asdict(choice))
    setup_tracking(cfg.tracking)
    tags = {
        **lineage_tags("compare"),
        "chosen_variant": choice.variant,
        DESCRIPTION: summary,
        **{f"compared.{variant}": run_id for variant, run_id in variant_run_ids(cfg).items()},
    }
    with tracked_run(f"compare: {choice.variant} wins", tags):  # the runs list shows the answer
        mlflow.log_params({"compare.metric": choice.metric, "compare.variants": ",".join(cfg.compare.variants)})
        mlflow.log_params({"features.name": cfg.features.name, "features.bigrams": cfg.features.bigrams})
        mlflow.log_metrics({"chosen_epochs": choice.epochs, f"chosen_{choice.metric}": choice.value})
        mlflow.log_artifacts(str(out))
    return choice
