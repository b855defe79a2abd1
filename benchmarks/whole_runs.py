"""Benchmark: whole runs as a user starts them, timed into ``reports/timings.json``, which the results page shows
beside the targets (issue 29: the record feature set's whole study within 10 minutes, ``make run`` no slower).

- ``--study NAME``: ``dvc exp run -S features=NAME`` in a fresh clone of HEAD after fetch: the whole study
  (vectorize, every variant, compare, final, baselines, side by side, register, report), one stage at a time.
- ``--make-run REV --rounds N``: ``make run`` after fetch (vectorize and every train stage forced) in a worktree
  of REV and one of HEAD, alternately N times, so that both sides see the same states of the machine; the
  median and every round are kept.

A clone, not a worktree, for the study: ``dvc exp run`` commits its experiment to the repository it runs in. The
study's row of the results page's feature-set table (``reports/feature_sets/NAME.json``) is copied back as its run
wrote it, so the page shows the measured run's answer beside its time.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from .harness import BIN, ROOT, Table, prepare_tree, short_revision, time_commands, worktrees
from .pipeline import time_make_run

TIMINGS = ROOT / "reports" / "timings.json"  # conf/paths/default.yaml: paths.timings


def stamp(revision: str) -> dict:
    """Where a figure comes from: the revision measured, when, on how many cores."""
    return {"revision": short_revision(revision), "measured": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}


def measure_study(features: str) -> dict:
    """The whole study with ``conf/features/<features>.yaml`` in a fresh clone of HEAD, timed after fetch."""
    if subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip():
        print("note: the work tree has uncommitted changes; the study runs HEAD as committed", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-study-"))
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder)], check=True)
        prepare_tree(folder)
        timing = time_commands([str(BIN / "dvc"), "exp", "run", "-S", f"features={features}"], tree=folder)
        kept = folder / "reports" / "feature_sets" / f"{features}.json"
        record = json.loads(kept.read_text())
        shutil.copy(kept, ROOT / "reports" / "feature_sets")  # its row of the page's table, as the run wrote it
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rounded = {key: round(value, 1) for key, value in timing.items()}
    return {**rounded, **stamp("HEAD"), "test_accuracy": record["test_accuracy"]}


def measure_make_run(before_rev: str, rounds: int, table: Table) -> dict:
    """``make run`` of ``before_rev`` and of HEAD, alternately ``rounds`` times."""
    sides: dict[str, list[dict]] = {"before": [], "after": []}
    with worktrees({"before": before_rev, "after": "HEAD"}) as trees:
        for round_number in range(1, rounds + 1):
            for side, tree in trees.items():
                sides[side].append(time_make_run(tree))
                table.row(
                    f"round {round_number}: {side}",
                    f"{sides[side][-1]['seconds']:.1f} s",
                    f"{sides[side][-1]['largest_process_rss_mb']:.0f} MB",
                )
    return {
        side: {
            **stamp(rev),
            "median_seconds": round(statistics.median(run["seconds"] for run in runs), 1),
            "seconds": [round(run["seconds"], 1) for run in runs],
            "largest_process_rss_mb": round(max(run["largest_process_rss_mb"] for run in runs), 1),
        }
        for (side, runs), rev in zip(sides.items(), (before_rev, "HEAD"), strict=True)
    }


def record(key: str, name: str | None, figures: dict) -> None:
    """Merge the figures into reports/timings.json (``studies`` by feature set, or ``make_run``), keeping the rest."""
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    if name is None:
        timings[key] = figures
    else:
        timings.setdefault(key, {})[name] = figures
    TIMINGS.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")


def run_studies(names: list[str]) -> None:
    for name in names:
        figures = measure_study(name)
        record("studies", name, figures)
        print(
            f"whole study, features={name}: {figures['seconds']:.0f} s, largest process "
            f"{figures['largest_process_rss_mb']:.0f} MB, test accuracy {figures['test_accuracy']:.4f} "
            f"(reports/timings.json)",
            flush=True,
        )


def run_make_run(before_rev: str, rounds: int) -> None:
    table = Table((20, 10, 10), ("make run after fetch", "seconds", "largest"), live=True)
    figures = measure_make_run(before_rev, rounds, table)
    record("make_run", None, figures)
    before, after = figures["before"]["median_seconds"], figures["after"]["median_seconds"]
    print(
        f"median of {rounds}: before {before:.1f} s, after {after:.1f} s, after/before {after / before:.3f}x "
        "(reports/timings.json)"
    )
