"""``--against REV``: REV and HEAD side by side, each in a fresh worktree, measured alternately in one run (so
both see the same state of the machine): vectorize, epochs, MLflow share, the pipeline, lines of code, and
whether the study's metrics are identical."""

from __future__ import annotations

import json
from pathlib import Path

from . import lines_of_code, pipeline
from .harness import REVISIONS, Table, new_results, run_child, short_revision, worktrees, write_results

PIPELINE_FIGURES = (
    ("dvc_repro_from_vectorize", "dvc repro after fetch"),
    ("make_run_from_vectorize", "make run after fetch"),
    ("noop_dvc_repro", "no-op dvc repro"),
)


def study_metrics(tree: Path) -> dict:
    """The study's answers in ``tree`` after its pipeline ran: every variant's metrics and the final test score."""
    reports = tree / "reports"
    variants = {path.parent.name: json.loads(path.read_text()) for path in sorted(reports.glob("train/*/metrics.json"))}
    for variant, metrics in variants.items():  # without what differs by design between any two runs
        metrics.pop("parent_run_id", None), metrics.pop("train_seconds", None)
        seeds_file = reports / "train" / variant / "seeds.json"  # each seed's numbers (older revisions: per_seed)
        seeds = json.loads(seeds_file.read_text())["seeds"] if seeds_file.is_file() else metrics.get("per_seed", {})
        metrics["per_seed"] = {
            seed: {k: v for k, v in run.items() if k not in ("train_seconds", "run_id")} for seed, run in seeds.items()
        }
    final = json.loads((reports / "final" / "metrics.json").read_text())
    return {"variants": variants, "final_test": {key: value for key, value in final.items() if key.startswith("test_")}}


def measure(before_rev: str, variants: list[str]) -> dict:
    """``before_rev`` against HEAD, each in its own fresh worktree, measured alternately in one run."""
    with worktrees({"before": before_rev, "after": "HEAD"}) as trees:
        rows: dict[str, dict] = {
            "revision": {"before": short_revision(before_rev), "after": short_revision("HEAD")},
            "lines_of_code": {side: lines_of_code.count(tree) for side, tree in trees.items()},
        }
        rows["vectorize"] = {side: run_child("vectorize", "ours", tree=tree) for side, tree in trees.items()}
        for variant in variants:
            rows[f"{variant} epoch"] = {
                side: run_child("train", "ours", variant, tree=tree) for side, tree in trees.items()
            }
        rows["tracking"] = {side: run_child("tracking", "l2_3layer", tree=tree) for side, tree in trees.items()}
        rows["pipeline"] = {side: pipeline.time_pipeline(tree) for side, tree in trees.items()}
        rows["vectorize stage"] = {side: pipeline.time_vectorize_stage(tree) for side, tree in trees.items()}
        rows["metrics"] = {side: study_metrics(tree) for side, tree in trees.items()}
    return rows


def figure(table: Table, label: str, before: float, after: float, unit: str) -> None:
    """One row: before, after and after/before."""
    table.row(label, f"{before:.3f}{unit:>2}", f"{after:.3f}{unit:>2}", f"{after / before:.3f}x")


def side_by_side(table: Table, label: str, sides: dict, key: str, unit: str) -> None:
    figure(table, label, sides["before"][key], sides["after"][key], unit)


def revision_table(rows: dict) -> Table:
    """The before/after comparison: before, after, after/before."""
    b, a = rows["revision"]["before"], rows["revision"]["after"]
    table = Table((40, 10, 10, 13), (f"before {b} / after {a}", "before", "after", "after/before"))
    side_by_side(table, "vectorize, in process", rows["vectorize"], "seconds", " s")
    side_by_side(table, "vectorize, in process: peak RSS", rows["vectorize"], "peak_rss_mb", "MB")
    side_by_side(table, "vectorize stage (a process)", rows["vectorize stage"], "seconds", " s")
    side_by_side(table, "vectorize stage: peak RSS", rows["vectorize stage"], "largest_process_rss_mb", "MB")
    for key, sides in rows.items():
        if key.endswith(" epoch"):
            side_by_side(table, f"{key}: median epoch", sides, "median_epoch_seconds", " s")
            side_by_side(table, f"{key}: best val accuracy", sides, "best_val_accuracy", "")
            side_by_side(table, f"{key}: peak RSS", sides, "peak_rss_mb", "MB")
    tracking = rows["tracking"]
    share = {side: run["mlflow_share"] * 100 for side, run in tracking.items()}
    figure(table, "MLflow share of a l2_3layer stage", share["before"], share["after"], " %")
    side_by_side(table, "l2_3layer stage total", tracking, "total_seconds", " s")
    for name, label in PIPELINE_FIGURES:
        sides = {side: run[name] for side, run in rows["pipeline"].items()}
        side_by_side(table, label, sides, "seconds", " s")
        side_by_side(table, f"{label}: largest process", sides, "largest_process_rss_mb", "MB")
    same = rows["metrics"]["before"] == rows["metrics"]["after"]
    table.row("study metrics (every variant, final test)", suffix=f" {'identical' if same else 'DIFFERENT'}")
    for part in lines_of_code.PARTS:
        side_by_side(table, f"lines of code: {part}", rows["lines_of_code"], part, "")
    return table


def compare(before_rev: str, variants: list[str]) -> None:
    """Measure both sides, write benchmarks/revisions.json and print the table."""
    results = {**new_results(), "revisions": measure(before_rev, variants)}
    write_results(REVISIONS, results)
    print(revision_table(results["revisions"]).render())
