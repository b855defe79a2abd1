"""Compare the variants from the train stage's outputs and choose what to retrain, with the reason.

Reads only DVC-tracked files (``reports/train/<variant>/metrics.json`` and the per-seed histories), never
the MLflow store, so ``dvc repro`` knows exactly what a comparison depended on.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from imdb_sentiment.config import Config, SelectionMetric
from imdb_sentiment.errors import DataError
from imdb_sentiment.outputs import atomic_dir, write_json, write_text

SUMMARY_COLUMNS = ("best_val_accuracy", "best_val_loss", "best_epoch", "epochs_run", "train_seconds")
TIE_BREAKER = "best_val_loss"


@dataclass
class VariantResult:
    variant: str
    metrics: dict  # the train stage's metrics.json
    histories: dict[int, dict[str, list[float]]]  # seed -> per-epoch history

    def mean(self, key: str) -> float:
        return float(self.metrics[key]["mean"])

    def std(self, key: str) -> float:
        return float(self.metrics[key]["std"])

    def per_seed(self, key: str) -> list[float]:
        return [float(run[key]) for run in self.metrics["per_seed"].values()]


def read_history(path: Path) -> dict[str, list[float]]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"} if rows else {}


def load_results(train_reports: Path, variants: list[str]) -> list[VariantResult]:
    """Each variant's metrics and histories; a missing variant is an error that names the stage to run."""
    if not variants:
        raise DataError("compare.variants is empty: list the variants in params.yaml")
    results = []
    for variant in variants:
        folder = train_reports / variant
        metrics_path = folder / "metrics.json"
        if not metrics_path.is_file():
            raise DataError(f"{metrics_path} is missing: run the train stage (dvc repro train@{variant})")
        metrics = json.loads(metrics_path.read_text())
        histories = {int(p.stem.split("_")[1]): read_history(p) for p in sorted((folder / "history").glob("seed_*.csv"))}
        results.append(VariantResult(variant, metrics, histories))
    return results


def rank(results: list[VariantResult], metric: SelectionMetric) -> list[VariantResult]:
    """Best first: by the mean of ``metric`` (accuracy up, loss down), ties to the lower mean best_val_loss.

    Every value is taken at each seed's best epoch (see ``summaries.summarize``)."""
    sign = -1.0 if metric.maximized else 1.0
    return sorted(results, key=lambda r: (sign * r.mean(metric.value), r.mean(TIE_BREAKER), r.variant))


def retrain_epochs(result: VariantResult) -> int:
    """The median over seeds of the best epoch, rounded up (an epoch is whole)."""
    return int(math.ceil(float(np.median(result.per_seed("best_epoch")))))


@dataclass
class Choice:
    variant: str
    epochs: int
    metric: str
    value: float
    std: float
    seeds: int
    runner_up: str | None
    runner_up_value: float | None
    lead: float | None
    spread: float | None
    lead_exceeds_spread: bool | None
    reason: str


def choose(results: list[VariantResult], metric: SelectionMetric) -> Choice:
    """The winner, its retraining epochs, and whether its lead is larger than the seed-to-seed spread."""
    ranked = rank(results, metric)
    winner = ranked[0]
    key = metric.value
    direction = "highest" if metric.maximized else "lowest"
    epochs = retrain_epochs(winner)
    seeds = int(winner.metrics["seeds"])
    best_epochs = ", ".join(str(int(e)) for e in winner.per_seed("best_epoch"))
    reason = (f"{winner.variant} has the {direction} mean {key} ({winner.mean(key):.4f} ± {winner.std(key):.4f} "
              f"over {seeds} seed{'s' if seeds != 1 else ''}); retrain for {epochs} epochs, the median of the "
              f"seeds' best epochs ({best_epochs}), where each seed's {key} is taken and its saved model stopped.")
    runner_up = ranked[1] if len(ranked) > 1 else None
    lead = spread = exceeds = None
    if runner_up is not None:
        lead = abs(winner.mean(key) - runner_up.mean(key))
        spread = max(winner.std(key), runner_up.std(key))
        tie = lead == 0
        if tie:
            reason += (f" It ties with {runner_up.variant} on {key} and wins on the lower mean {TIE_BREAKER} "
                       f"({winner.mean(TIE_BREAKER):.4f} vs {runner_up.mean(TIE_BREAKER):.4f}).")
        if seeds < 2 or int(runner_up.metrics["seeds"]) < 2:
            reason += (f" Its lead over {runner_up.variant} ({lead:.4f}) cannot be judged against seed noise: "
                       f"run at least two seeds.")
        else:
            exceeds = lead > spread
            reason += (f" Its lead over {runner_up.variant} ({lead:.4f}) is {'larger' if exceeds else 'not larger'} "
                       f"than the seed-to-seed spread ({spread:.4f}, the larger standard deviation of the two)"
                       f"{'' if exceeds else ': the ranking may not hold on other seeds'}.")
    return Choice(variant=winner.variant, epochs=epochs, metric=key, value=winner.mean(key), std=winner.std(key),
                  seeds=seeds, runner_up=runner_up.variant if runner_up else None,
                  runner_up_value=runner_up.mean(key) if runner_up else None, lead=lead, spread=spread,
                  lead_exceeds_spread=exceeds, reason=reason)


def summary_rows(ranked: list[VariantResult]) -> list[dict]:
    rows = []
    for result in ranked:
        row: dict = {"variant": result.variant, "seeds": int(result.metrics["seeds"])}
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


def summary_markdown(rows: list[dict], choice: Choice) -> str:
    header = "| variant | seeds | " + " | ".join(SUMMARY_COLUMNS) + " |"
    lines = ["# Variant comparison", "", f"Ranked by mean {choice.metric} (mean ± std across seeds).", "",
             header, "|" + "---|" * (len(SUMMARY_COLUMNS) + 2)]
    for row in rows:
        cells = [f"{row[f'{key}_mean']:.4f} ± {row[f'{key}_std']:.4f}" if "seconds" not in key and "epoch" not in key
                 else f"{row[f'{key}_mean']:.1f} ± {row[f'{key}_std']:.1f}" for key in SUMMARY_COLUMNS]
        lines.append(f"| {row['variant']} | {row['seeds']} | " + " | ".join(cells) + " |")
    lines += ["", f"**Chosen: {choice.variant}, {choice.epochs} epochs.** {choice.reason}", ""]
    return "\n".join(lines)


def mean_band(histories: dict[int, dict[str, list[float]]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch: mean, min and max across the seeds that ran that epoch (early stopping differs by seed)."""
    longest = max(len(h[key]) for h in histories.values())
    table = np.full((len(histories), longest), np.nan)
    for row, history in enumerate(histories.values()):
        table[row, : len(history[key])] = history[key]
    return np.nanmean(table, axis=0), np.nanmin(table, axis=0), np.nanmax(table, axis=0)


def overlay_figure(results: list[VariantResult], key: str, title: str) -> Figure:
    """One line per variant (mean across seeds) with a band from the lowest to the highest seed."""
    figure = Figure(figsize=(7.5, 5), layout="constrained")
    axes = figure.subplots()
    for result in results:
        mean, low, high = mean_band(result.histories, key)
        epochs = np.arange(1, len(mean) + 1)
        line, = axes.plot(epochs, mean, label=result.variant)
        axes.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2)
    axes.set_title(title)
    axes.set_xlabel("Epochs")
    axes.set_ylabel(key)
    axes.legend()
    return figure


def comparison_figures(results: list[VariantResult], pair: list[str]) -> dict[str, Figure]:
    """All variants overlaid, plus the notebook's two L1-vs-L2 plots when both variants are present."""
    figures = {"val_loss_all.png": overlay_figure(results, "val_loss", "Validation loss, all variants"),
               "val_accuracy_all.png": overlay_figure(results, "val_accuracy", "Validation accuracy, all variants")}
    chosen = [r for r in results if r.variant in pair]
    if len(chosen) == len(pair) >= 2:
        names = " vs ".join(pair)
        figures["pair_val_loss.png"] = overlay_figure(chosen, "val_loss", f"Validation loss: {names}")
        figures["pair_val_accuracy.png"] = overlay_figure(chosen, "val_accuracy", f"Validation accuracy: {names}")
    return figures


def compare_variants(cfg: Config) -> Choice:
    """The compare stage: summary tables, plots and best.json, then a ``compare`` MLflow run."""
    import mlflow

    from imdb_sentiment.runs import lineage_tags, tracked_run
    from imdb_sentiment.tracking_store import setup_tracking

    results = load_results(Path(cfg.paths.reports_dir) / "train", cfg.compare.variants)
    ranked = rank(results, cfg.compare.metric)
    choice = choose(results, cfg.compare.metric)
    rows = summary_rows(ranked)
    out = Path(cfg.paths.reports_dir) / "compare"
    with atomic_dir(out / "plots") as plots_tmp:
        for name, figure in comparison_figures(results, cfg.compare.runner_up_plots).items():
            figure.savefig(plots_tmp / name, dpi=100)
    write_text(out / "summary.csv", summary_csv(rows))
    write_text(out / "summary.md", summary_markdown(rows, choice))
    write_json(out / "summary.json", rows)
    write_json(out / "best.json", asdict(choice))
    setup_tracking(cfg.tracking)
    tags = {**lineage_tags("compare"), "chosen_variant": choice.variant,
            **{f"compared.{r.variant}": r.metrics.get("parent_run_id", "") for r in results}}
    with tracked_run("compare", tags):
        mlflow.log_params({"compare.metric": choice.metric, "compare.variants": ",".join(cfg.compare.variants)})
        mlflow.log_metrics({"chosen_epochs": choice.epochs, f"chosen_{choice.metric}": choice.value})
        mlflow.log_artifacts(str(out))
    return choice
