"""Benchmark: the whole pipeline after fetch, as plain ``dvc repro`` (one stage at a time) and as ``make run`` (the
train stages side by side), then a no-op ``dvc repro``; each with the peak RSS of its largest process."""

from __future__ import annotations

import sys
from pathlib import Path

from .harness import DVC, ROOT, Table, time_commands


def repro_module(tree: Path) -> str:
    """The ``make run`` runner's module in ``tree``: ``--against`` may check out a revision from before the package
    moved into one package per concern, whose runner was ``imdb_sentiment.repro``."""
    moved = (tree / "src" / "imdb_sentiment" / "runtime" / "repro.py").is_file()
    return "imdb_sentiment.runtime.repro" if moved else "imdb_sentiment.repro"


def time_make_run(tree: Path = ROOT) -> dict:
    """``make run`` after fetch in ``tree``: vectorize and every train stage forced (and all after them)."""
    return time_commands(
        DVC + ["--force", "--single-item", "vectorize"],
        [sys.executable, "-m", repro_module(tree), "--force-train"],
        tree=tree,
    )


def time_pipeline(tree: Path = ROOT) -> dict:
    """``dvc repro`` (serial) and ``make run`` (train stages side by side) after fetch, then a no-op repro."""
    serial = time_commands(DVC + ["--force", "--downstream", "vectorize"], tree=tree)
    return {
        "dvc_repro_from_vectorize": serial,
        "make_run_from_vectorize": time_make_run(tree),
        "noop_dvc_repro": time_commands(DVC, tree=tree),
    }


def time_vectorize_stage(tree: Path = ROOT) -> dict:
    """The vectorize stage as DVC runs it, a whole process (its imports and outputs included)."""
    return time_commands([sys.executable, "stages/vectorize.py"], tree=tree)


def measure(table: Table) -> dict:
    """This tree's pipeline, timed (it trains everything twice)."""
    pipeline = time_pipeline()
    serial, side_by_side = pipeline["dvc_repro_from_vectorize"], pipeline["make_run_from_vectorize"]
    table.line(
        f"pipeline after fetch: dvc repro {serial['seconds']:.1f} s, make run (train stages 2 at a "
        f"time) {side_by_side['seconds']:.1f} s; no-op dvc repro "
        f"{pipeline['noop_dvc_repro']['seconds']:.2f} s; largest process "
        f"{serial['largest_process_rss_mb']:.0f} / {side_by_side['largest_process_rss_mb']:.0f} MB"
    )
    return pipeline
