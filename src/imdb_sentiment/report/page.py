"""The results page, ``reports/README.md``: written by the report stage from the stages' files.

Every number on the page is read from those files (``reports/compare/summary.json``, ``best.json``,
``reports/final/metrics.json`` and ``run.json``, ``reports/side_by_side/metrics.json``, and the vectorize stage's
``reports/data/stats.json``) or computed from them, or is one of the yardsticks in ``conf/report/``: the original
notebook's published result and the study's targets.
"""

from __future__ import annotations

import logging
from pathlib import Path

from imdb_sentiment.config.schema import Config, loss_words
from imdb_sentiment.report.answers import notebook_rerun_section, protocol_section, targets_section
from imdb_sentiment.report.feature_sets import feature_sets_section
from imdb_sentiment.report.inputs import PageInputs, cell, gap, ranked, read_inputs, times_spread
from imdb_sentiment.runtime.outputs import write_text

log = logging.getLogger(__name__)

# What the original notebook concluded (one run per variant): its choice, its epochs and its test accuracy.
TEST_METRICS = ("test_accuracy", "test_f1", "test_precision", "test_recall", "test_roc_auc", "test_bce", "test_loss")
FIGURES = {
    "val_accuracy_all.png": "validation accuracy of every variant",
    "val_bce_all.png": "validation cross-entropy of every variant (the same function for all)",
    "train_val_accuracy.png": "training vs validation accuracy, one panel per variant",
    "train_val_loss.png": "training vs validation loss, one panel per variant, each its own loss function",
    "pair_val_accuracy.png": "validation accuracy, L1 vs L2 (the notebook's comparison)",
    "pair_val_bce.png": "validation cross-entropy, L1 vs L2 (the notebook's comparison)",
    "architecture.png": "the final model's layers",
    "confusion_matrix.png": "the final model's confusion matrix on the test reviews",
    "roc_curve.png": "the final model's ROC curve on the test reviews",
    "pr_curve.png": "the final model's precision-recall curve on the test reviews",
    "calibration_curve.png": "the final model's calibration on the test reviews: fraction positive per probability bin",
    "probability_histogram.png": "the final model's predicted probabilities on the test reviews, by true class",
    "learning_curve.png": "the final model's training loss and accuracy per epoch, and the epoch it saved",
}


def answer_section(inputs: PageInputs) -> list[str]:
    """The study's answer in three sentences, before the tables that back it."""
    best, metrics, rows, published = inputs.best, inputs.metrics, ranked(inputs), inputs.notebook
    winner, numbers = rows[0], inputs.side_by_side
    stuck = [row["variant"] for row in rows if not row.get("learned", True)]
    difference = metrics["test_accuracy"] - published["test_accuracy"]
    lines = [
        "## The answer",
        "",
        f"**{best['variant']}** wins: mean validation accuracy {cell(winner, best['metric'], 4)} over "
        f"{winner['seeds']} seeds. Retrained for {metrics['epochs']} epochs on {metrics['train_rows']:,} training "
        f"reviews, it scores **{metrics['test_accuracy']:.4f}** test accuracy, {abs(difference):.4f} "
        f"{'above' if difference >= 0 else 'below'} the notebook's published {published['test_accuracy']:.4f} "
        f"({published['variant']}; re-run here on the same rows it scores {numbers['notebook_test_accuracy']:.4f}, "
        f"and ours is {'better' if numbers['ours_minus_notebook'] >= 0 else 'worse'} review by review at "
        f"McNemar's p = {inputs.run['mcnemar_p_value']:.1e})."
        if "accuracy" in best["metric"]
        else f"**{best['variant']}** wins by mean {best['metric']} ({cell(winner, best['metric'], 4)}); its test "
        f"accuracy is {metrics['test_accuracy']:.4f}.",
    ]
    if stuck:
        lines[-1] += f" {', '.join(stuck)} did not learn (chance accuracy on every epoch) and was not considered."
    return lines


def variants_table(inputs: PageInputs) -> list[str]:
    metric, rows = inputs.best["metric"], ranked(inputs)
    lines = [
        "## Variants",
        "",
        f"Mean ± std over seeds, each seed at its best epoch; best first by mean {metric}. Accuracy and "
        "cross-entropy are measured the same way for every variant; the training loss is each variant's own "
        "(named; with its weight penalty), so it compares only within a row. The last two columns give how far "
        f"each variant is behind the winner on {metric}, and that gap in units of the seed spread (the larger std "
        "of the two).",
        "",
        "| rank | variant | seeds | val accuracy | val cross-entropy | val training loss | best epoch | "
        "train time (s) | behind | × spread |",
        "|---:|---|---:|---|---|---|---|---|---:|---:|",
    ]
    for position, row in enumerate(rows, 1):
        lead, spread = gap(rows[0], row, metric)
        behind = ("winner", "") if position == 1 else (f"{lead:.4f}", times_spread(lead, spread))
        if not row.get("learned", True):
            behind = ("did not learn (chance)", "")
        own_loss = f"{cell(row, 'best_val_loss', 4)} ({loss_words(row.get('loss_function', 'unknown'))})"
        lines.append(
            f"| {position} | {row['variant']} | {row['seeds']} | {cell(row, 'best_val_accuracy', 4)} | "
            f"{cell(row, 'best_val_bce', 4)} | {own_loss} | "
            f"{cell(row, 'best_epoch', 1)} | {cell(row, 'train_seconds', 1)} | "
            f"{behind[0]} | {behind[1]} |"
        )
    return lines


def winner_section(inputs: PageInputs) -> list[str]:
    best = inputs.best
    return ["## The winner", "", f"**{best['variant']}**, retrained for {best['epochs']} epochs. {best['reason']}"]


def test_section(inputs: PageInputs) -> list[str]:
    metrics = inputs.metrics
    winner = next((row for row in inputs.summary if row["variant"] == inputs.best["variant"]), {})
    names = {
        "test_bce": "test_bce (cross-entropy)",
        "test_loss": f"test_loss ({loss_words(winner.get('loss_function', 'unknown'))}, its training loss)",
    }
    lines = ["## Test metrics of the final model", "", "| metric | value |", "|---|---:|"]
    lines += [f"| {names.get(key, key)} | {metrics[key]:.4f} |" for key in TEST_METRICS if key in metrics]
    lines += [f"| epochs | {metrics['epochs']} |", f"| train_rows | {metrics['train_rows']:,} |"]
    return lines


def notebook_verdict(inputs: PageInputs, rows: list[dict]) -> str:
    """Where the notebook's choice stands over the seeds: its rank and its gap to our winner against the spread."""
    metric, names, notebook = inputs.best["metric"], [row["variant"] for row in rows], inputs.notebook
    if notebook["variant"] not in names:
        return f"The notebook's choice {notebook['variant']} was not among the variants compared here."
    theirs = rows[names.index(notebook["variant"])]
    seeds = f"over {theirs['seeds']} seeds"
    if names[0] == notebook["variant"]:
        if len(rows) < 2:
            return f"{seeds.capitalize()}, this pipeline agrees with the notebook: {names[0]} is the only variant."
        lead, spread = gap(rows[0], rows[1], metric)
        return (
            f"{seeds.capitalize()}, this pipeline agrees with the notebook: {names[0]} ranks first, "
            f"{lead:.4f} ahead of {rows[1]['variant']} in mean {metric}, {times_spread(lead, spread)} the seed "
            f"spread ({spread:.4f}){'' if lead > spread else ': within seed noise'}."
        )
    lead, spread = gap(rows[0], theirs, metric)
    return (
        f"{seeds.capitalize()}, the notebook's {notebook['variant']} ranks {names.index(notebook['variant']) + 1} "
        f"of {len(rows)} by mean {metric} ({cell(theirs, metric, 4)}); {names[0]} leads it by {lead:.4f}, "
        f"{times_spread(lead, spread)} the seed spread ({spread:.4f}): "
        + (
            "larger than seed noise, so this pipeline does not confirm the notebook's choice."
            if lead > spread
            else "within seed noise, so the two cannot be told apart on these seeds."
        )
    )


def notebook_section(inputs: PageInputs) -> list[str]:
    rows, metrics, notebook = ranked(inputs), inputs.metrics, inputs.notebook
    difference = metrics["test_accuracy"] - notebook["test_accuracy"]
    names = [row["variant"] for row in rows]
    lines = [
        "## The original notebook's conclusions and ours",
        "",
        "| | notebook | this pipeline |",
        "|---|---|---|",
        f"| runs per variant | 1 | {rows[0]['seeds']} seeds |",
        f"| chosen variant | {notebook['variant']} | {inputs.best['variant']} |",
        f"| epochs | {notebook['epochs']} | {metrics['epochs']} |",
        f"| test accuracy | {notebook['test_accuracy']:.4f} | {metrics['test_accuracy']:.4f} |",
        "",
        notebook_verdict(inputs, rows),
    ]
    if notebook["variant"] in names:
        theirs = rows[names.index(notebook["variant"])]
        lines[-1] += (
            f" Here {notebook['variant']}'s best epoch is {cell(theirs, 'best_epoch', 1)} (mean ± std over seeds), "
            f"against the notebook's {notebook['epochs']}."
        )
    lines[-1] += (
        f" The final model's test accuracy is {abs(difference):.4f} {'above' if difference >= 0 else 'below'} "
        "the notebook's (one test run each, so the test accuracy has no seed spread)."
    )
    return lines


def figures_section(inputs: PageInputs) -> list[str]:
    known = list(FIGURES)
    order = sorted(
        inputs.figures, key=lambda p: (known.index(Path(p).name) if Path(p).name in known else len(known), p)
    )
    lines = ["## Figures", ""]
    lines += [
        f"- [{path}]({path}): {FIGURES.get(Path(path).name, Path(path).stem.replace('_', ' '))}" for path in order
    ] or ["No figures were found."]
    return lines


def results_page(inputs: PageInputs) -> str:
    sections = [
        answer_section,
        variants_table,
        winner_section,
        protocol_section,
        test_section,
        notebook_section,
        notebook_rerun_section,
        feature_sets_section,
        targets_section,
        figures_section,
    ]
    lines = ["# Results", "", "Generated by the pipeline's `report` stage (`dvc repro report`): do not edit by hand."]
    for section in sections:
        lines += ["", *section(inputs)]
    return "\n".join(lines) + "\n"


def write_results_page(cfg: Config) -> Path:
    """The report stage: the page from the stages' files, logged to the final MLflow run."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from imdb_sentiment.tracking.store import setup_tracking

    page = Path(cfg.paths.results_page)
    inputs = read_inputs(cfg)
    write_text(page, results_page(inputs))
    log.info("wrote %s", page)
    run_id, experiment_id = inputs.store.get("run_id"), None
    if run_id:
        setup_tracking(cfg.tracking)
        try:
            MlflowClient().log_artifact(run_id, str(page))
            experiment_id = MlflowClient().get_run(run_id).info.experiment_id
        except MlflowException as exc:  # e.g. a store that does not hold the run: the page stands on its own
            log.warning("%s not logged to the final run %s: %s", page, run_id, str(exc).splitlines()[0])
    print(where_to_look(cfg, page, experiment_id, inputs.store.get("registry")))
    return page


def where_to_look(cfg: Config, page: Path, experiment_id: str | None, registry: str | None) -> str:
    """The pipeline's last words (the report stage is its last stage): where the answer is, in each tool."""
    import mlflow

    lines = [f"The answer: {page} (the results page); `dvc metrics show`, `dvc plots show`."]
    if experiment_id is not None:
        lines.append(
            f"MLflow: mlflow ui --backend-store-uri {mlflow.get_tracking_uri()}, then "
            f"http://127.0.0.1:5000/#/experiments/{experiment_id}?workflowType=machine_learning (the runs)"
        )
    champion = f"models:/{cfg.final.text_model_name}@{cfg.final.alias}"
    lines.append(f'Champion: {champion} ({registry or "not registered"}); imdb-sentiment predict "..."')
    return "\n".join(lines)
