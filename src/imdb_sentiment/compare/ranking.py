"""The train stage's results read back, the variants ranked, and the choice of what to retrain, with the reason.

Reads only DVC-tracked files (``reports/train/<variant>/seeds.json`` and the per-seed histories), never
the MLflow store, so ``dvc repro`` knows exactly what a comparison depended on. The decision is kept apart from
the reports that show it (:mod:`imdb_sentiment.compare.summary`), so it is tested on plain numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imdb_sentiment.config.schema import SelectionMetric
from imdb_sentiment.model.summaries import aggregate, within_chance
from imdb_sentiment.runtime.errors import DataError

TIE_BREAKER = "best_val_bce"  # the same function for every variant


@dataclass
class VariantResult:
    """A variant's seeds as the train stage wrote them (``seeds.json``), and their per-epoch histories.

    Means and spreads are taken here from the seeds' own numbers (``summaries.aggregate``, as the train stage
    does for its metrics file), so every statistic compare shows has one source."""

    variant: str
    seed_runs: dict  # the train stage's seeds.json
    histories: dict[int, dict[str, list[float]]]  # seed -> per-epoch history
    learned: bool = True  # False: validation accuracy at chance on every epoch (model.summaries.within_chance)

    @property
    def seeds(self) -> int:
        return len(self.seed_runs["seeds"])

    @property
    def loss_function(self) -> str:
        """The loss it trained on (``mse`` or ``binary_crossentropy``): what its ``*_val_loss`` numbers measure."""
        return str(self.seed_runs.get("loss_function", "unknown"))

    def per_seed(self, key: str) -> list[float]:
        """In seed order (JSON keys are strings, which sort "10" before "2")."""
        runs = self.seed_runs["seeds"]
        return [float(runs[seed][key]) for seed in sorted(runs, key=int)]

    def mean(self, key: str) -> float:
        return aggregate([{key: value} for value in self.per_seed(key)])[key]["mean"]

    def std(self, key: str) -> float:
        return aggregate([{key: value} for value in self.per_seed(key)])[key]["std"]


def read_history(path: Path) -> dict[str, list[float]]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"} if rows else {}


def load_results(train_reports: Path, variants: list[str], chance_margin: float) -> list[VariantResult]:
    """Each variant's seeds and histories, and whether it learned; a missing variant is an error that names
    the stage to run."""
    if not variants:
        raise DataError("compare.variants is empty: list the variants in params.yaml")
    results = []
    for variant in variants:
        folder = train_reports / variant
        seeds_path = folder / "seeds.json"
        if not seeds_path.is_file():
            raise DataError(f"{seeds_path} is missing: run the train stage (dvc repro train@{variant})")
        seed_runs = json.loads(seeds_path.read_text())
        histories = {
            int(p.stem.split("_")[1]): read_history(p) for p in sorted((folder / "history").glob("seed_*.csv"))
        }
        learned = not within_chance([h.get("val_accuracy", []) for h in histories.values()], chance_margin)
        results.append(VariantResult(variant, seed_runs, histories, learned))
    return results


def check_comparable(results: list[VariantResult], metric: SelectionMetric) -> None:
    """``best_val_loss`` is each variant's own training loss: ranking by it is only fair when they share one."""
    functions = {r.variant: r.loss_function for r in results}
    if metric is SelectionMetric.best_val_loss and len(set(functions.values())) > 1:
        named = ", ".join(f"{variant}: {function}" for variant, function in functions.items())
        raise DataError(
            f"compare.metric=best_val_loss compares different loss functions ({named}); rank by "
            "best_val_bce (the same cross-entropy for every variant) or best_val_accuracy"
        )


def rank(results: list[VariantResult], metric: SelectionMetric) -> list[VariantResult]:
    """Best first: by the mean of ``metric`` (accuracy up, losses down), ties to the lower mean best_val_bce;
    the variants that did not learn last, whatever their numbers.

    Every value is taken at each seed's best epoch (see ``summaries.summarize``)."""
    check_comparable(results, metric)
    sign = -1.0 if metric.maximized else 1.0
    return sorted(results, key=lambda r: (not r.learned, sign * r.mean(metric.value), r.mean(TIE_BREAKER), r.variant))


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
    did_not_learn: list[str]  # the variants at chance accuracy, never chosen


def winner_reason(winner: VariantResult, metric: SelectionMetric, epochs: int) -> str:
    """Why the winner won, and where its retraining epochs come from."""
    key, seeds = metric.value, winner.seeds
    direction = "highest" if metric.maximized else "lowest"
    best_epochs = ", ".join(str(int(e)) for e in winner.per_seed("best_epoch"))
    return (
        f"{winner.variant} has the {direction} mean {key} ({winner.mean(key):.4f} ± {winner.std(key):.4f} "
        f"over {seeds} seed{'s' if seeds != 1 else ''}); retrain for {epochs} epochs, the median of the "
        f"seeds' best epochs ({best_epochs}: each seed's best by trainer.monitor, the epoch its numbers are "
        "taken at and its saved weights restored to)."
    )


def lead_over(winner: VariantResult, runner_up: VariantResult, key: str) -> tuple[float, float, bool | None, str]:
    """The winner's lead over the runner-up, the seed-to-seed spread, whether the lead exceeds it, and why."""
    lead = abs(winner.mean(key) - runner_up.mean(key))
    spread = max(winner.std(key), runner_up.std(key))
    reason = ""
    if lead == 0:
        reason += (
            f" It ties with {runner_up.variant} on {key} and wins on the lower mean {TIE_BREAKER} "
            f"({winner.mean(TIE_BREAKER):.4f} vs {runner_up.mean(TIE_BREAKER):.4f})."
        )
    if winner.seeds < 2 or runner_up.seeds < 2:
        reason += (
            f" Its lead over {runner_up.variant} ({lead:.4f}) cannot be judged against seed noise: "
            f"run at least two seeds."
        )
        return lead, spread, None, reason
    exceeds = lead > spread
    times = f", {lead / spread:.1f}×" if spread > 0 else ""
    reason += (
        f" Its lead over {runner_up.variant} ({lead:.4f}) is {'larger' if exceeds else 'not larger'} "
        f"than the seed-to-seed spread ({spread:.4f}, the larger standard deviation of the two{times})"
        f"{'' if exceeds else ': the ranking may not hold on other seeds'}."
    )
    return lead, spread, exceeds, reason


def choose(results: list[VariantResult], metric: SelectionMetric) -> Choice:
    """The winner, its retraining epochs, and whether its lead is larger than the seed-to-seed spread."""
    ranked = [result for result in rank(results, metric) if result.learned]
    did_not_learn = [result.variant for result in results if not result.learned]
    if not ranked:
        raise DataError(
            f"no variant learned: {', '.join(did_not_learn)} stayed at chance validation accuracy "
            "(trainer.chance_margin); check the data and the variants' learning rates"
        )
    winner, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    key, epochs = metric.value, retrain_epochs(winner)
    reason = winner_reason(winner, metric, epochs)
    lead = spread = exceeds = None
    if runner_up is not None:
        lead, spread, exceeds, more = lead_over(winner, runner_up, key)
        reason += more
    if did_not_learn:
        reason += f" Not considered: {', '.join(did_not_learn)}, which did not learn (chance accuracy)."
    return Choice(
        variant=winner.variant,
        epochs=epochs,
        metric=key,
        value=winner.mean(key),
        std=winner.std(key),
        seeds=winner.seeds,
        runner_up=runner_up.variant if runner_up else None,
        runner_up_value=runner_up.mean(key) if runner_up else None,
        lead=lead,
        spread=spread,
        lead_exceeds_spread=exceeds,
        reason=reason,
        did_not_learn=did_not_learn,
    )
