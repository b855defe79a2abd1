"""The results page's answers beside the variant table: the retraining protocol's two test scores, the
notebook's own choice re-run next to ours with McNemar's test, and where this run stands against the targets.

Numbers come from the side_by_side stage's ``metrics.json`` and the vectorize stage's ``stats.json``; the
targets and the published notebook result from ``conf/report/``.
"""

from __future__ import annotations

import statistics

from imdb_sentiment.config.schema import VectorizeTarget
from imdb_sentiment.report.inputs import PageInputs

PROTOCOLS = {
    "partial": "the training reviews minus the validation split, as the notebook did",
    "full": "every training review, the validation split included",
}


def protocol_section(inputs: PageInputs) -> list[str]:
    metrics, run, numbers = inputs.metrics, inputs.run, inputs.side_by_side
    chosen = run["train_on"]
    lines = [
        "## Retraining protocol",
        "",
        f"{run['variant']} was retrained from scratch for {metrics['epochs']} epochs (the median of its seeds' "
        f"best epochs) under each protocol, with the same seed, and scored once on the test reviews. The "
        f"pipeline's model is the one of `final.train_on: {chosen}` (in bold).",
        "",
        "| final.train_on | training rows | test accuracy |",
        "|---|---:|---:|",
    ]
    for on, what in PROTOCOLS.items():
        mark = "**" if on == chosen else ""
        rows, accuracy = numbers[f"train_rows_{on}"], numbers[f"test_accuracy_{on}"]
        lines.append(f"| {mark}{on}{mark}: {what} | {rows:,} | {mark}{accuracy:.4f}{mark} |")
    better = max(PROTOCOLS, key=lambda on: numbers[f"test_accuracy_{on}"])
    gain = abs(numbers["test_accuracy_full"] - numbers["test_accuracy_partial"])
    lines += [
        "",
        f"`{better}` scores {gain:.4f} higher on this run; "
        + ("the pipeline uses it." if better == chosen else f"the pipeline uses `{chosen}` (set in conf/final/)."),
    ]
    return lines


def notebook_rerun_section(inputs: PageInputs) -> list[str]:
    metrics, run, numbers, published = inputs.metrics, inputs.run, inputs.side_by_side, inputs.notebook
    rows = numbers[f"train_rows_{run['train_on']}"]  # the re-run and ours: the same protocol
    return [
        "## The notebook's choice, re-run beside ours",
        "",
        "| | notebook (published) | notebook's choice, re-run here | this pipeline |",
        "|---|---|---|---|",
        f"| variant | {published['variant']} | {run['notebook_variant']} | {run['variant']} |",
        f"| epochs | {published['epochs']} | {published['epochs']} | {metrics['epochs']} |",
        f"| training rows | {published['train_rows']:,} | {rows:,} | {rows:,} |",
        f"| test accuracy | {published['test_accuracy']:.4f} | {numbers['notebook_test_accuracy']:.4f} | "
        f"{metrics['test_accuracy']:.4f} |",
        "",
        run["notebook_comparison"],
    ]


def target_cell(value: float, target: float) -> str:
    return f"{value:.4f} ({'met' if value >= target else 'not met'})"


def targets_section(inputs: PageInputs) -> list[str]:
    run, stats, yardsticks = inputs.run, inputs.stats, inputs.yardsticks
    bigrams = stats.get("bigrams", 0)
    lines = [
        "## Targets",
        "",
        f"This run's features: `{run['features']}`, {stats['words']:,} words"
        + (f" + {bigrams:,} bigrams of the training reviews." if bigrams else " (no bigrams)."),
        "",
        "| what | target | reached |",
        "|---|---|---|",
    ]
    kept = {record["features"]: record for record in inputs.feature_sets}  # other feature sets' own runs
    for features, target in yardsticks.accuracy_targets.items():
        if features == run["features"]:
            reached = target_cell(inputs.metrics["test_accuracy"], target)
        elif features in kept:
            reached = f"{target_cell(kept[features]['test_accuracy'], target)} in its own run (Feature sets)"
        else:
            reached = not_run(features)
        lines.append(f"| final test accuracy, features={features} | ≥ {target} | {reached} |")
    lines += [
        f"| validation metric of the choice, features={record['features']} | on rows the features never saw "
        f"(unchanged rule) | {validation_rule_cell(record)} |"
        for record in sorted(inputs.feature_sets, key=lambda r: r["features"])
    ]
    lines += study_rows(inputs.timings.get("studies", {}), yardsticks.study_seconds_targets)
    if "make_run" in inputs.timings:
        lines.append(make_run_row(inputs.timings["make_run"]))
    else:
        lines.append(
            "| `make run` after fetch, default words | no slower than an earlier revision | not measured: "
            "`python benchmarks/run.py --make-run REV` |"
        )
    if stats.get("vectorize"):
        lines.append(vectorize_row(stats, yardsticks.vectorize_target))
    return lines


def validation_rule_cell(record: dict) -> str:
    """Where the choice's validation metric comes from, and what the features fitted on: the rule that no
    validation label reaches the features (tests/data/test_ratios.py proves it; this shows the rows)."""
    if "validation_rows" not in record:
        return f"not recorded by its run: `dvc exp run -S features={record['features']}`"
    validation, partial = record["validation_rows"], record["nb_ratio_rows"].get("partial")
    scored = f"scored on the {validation:,} validation rows"
    if partial is None:
        return f"met: {scored}; no fitted transform reads labels"
    met = partial + validation <= record["training_rows"]
    return (
        f"{'met' if met else 'NOT MET'}: {scored}; the naive-Bayes ratios they were scaled by count the other "
        f"{partial:,} training rows only"
    )


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def study_rows(studies: dict, targets: dict[str, float]) -> list[str]:
    """The whole study's time by feature set, as ``benchmarks/run.py --study`` measured it (not this run's)."""
    rows = []
    for features, limit in targets.items():
        study = studies.get(features)
        if study is None:
            cell = f"not measured: `python benchmarks/run.py --study {features}`"
        else:
            met = "met" if study["seconds"] <= limit else "not met"
            cell = (
                f"{minutes(study['seconds'])} ({study['seconds']:.0f} s, largest process "
                f"{study['largest_process_rss_mb']:.0f} MB; {study['revision']}, {study['measured']}, "
                f"{study['cpus']} cores) ({met})"
            )
        rows.append(
            f"| whole study, `dvc exp run -S features={features}` after fetch | ≤ {limit / 60:g} min | {cell} |"
        )
    return rows


def make_run_row(sides: dict) -> str:
    """``make run`` of this revision against an earlier one, alternately (``benchmarks/run.py --make-run``): judged
    by the rounds' paired ratios, since each round ran both sides back to back on the same state of the machine."""
    before, after = sides["before"], sides["after"]
    paired = [a / b for b, a in zip(before["seconds"], after["seconds"], strict=True)]
    verdict = statistics.median(paired)
    return (
        f"| `make run` after fetch, default words | no slower than {before['revision']} | "
        f"{after['revision']}: median {after['median_seconds']:.1f} s against {before['median_seconds']:.1f} s "
        f"({after['median_seconds'] / before['median_seconds']:.3f}×); each round after / before: "
        + ", ".join(f"{ratio:.3f}×" for ratio in paired)
        + f", median {verdict:.3f}× ({'met' if verdict <= 1 else 'not met'}; {after['measured']}) |"
    )


def not_run(features: str) -> str:
    return f"not run with these features: `dvc exp run -S features={features}`"


def vectorize_row(stats: dict, target: VectorizeTarget) -> str:
    """The target is for one vocabulary size; another run's own timing is shown as such."""
    timing = stats["vectorize"]
    measured = f"{timing['seconds']:.2f} s, {timing['peak_rss_mb']:.0f} MB peak"
    if (stats["words"], stats.get("bigrams", 0)) == (target.words, target.bigrams):
        met = timing["seconds"] <= target.seconds and timing["peak_rss_mb"] <= target.peak_rss_mb
        cell = f"{measured} ({'met' if met else 'not met'})"
    else:
        cell = f"{not_run(target.features)}; these features: {measured}"
    return (
        f"| vectorize stage (in process), {target.words:,} words + {target.bigrams:,} bigrams | "
        f"≤ {target.seconds:g} s, ≤ {target.peak_rss_mb:g} MB | {cell} |"
    )
