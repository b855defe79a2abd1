"""``dvc repro`` with the train stages side by side: DVC's parallel stage execution, on both cores.

``dvc repro`` runs a pipeline's stages one after another. DVC's documented way to run independent stages
at once is one ``dvc repro <stage>`` per stage: each holds the repository lock only while it checks and
commits a stage, not while the stage's command runs. So one train stage's start-up (seconds of
single-threaded imports; docs/performance.md) and its logging overlap another's fit. Every ``dvc repro`` still
skips a stage whose inputs did not change, so caching stays per variant, and ``dvc.lock`` gets the same
entries as from a plain ``dvc repro`` (a new file lists the train stages in the order they finished).

    python -m imdb_sentiment.runtime.repro                 # what `make run` does: the same result as `dvc repro`
    python -m imdb_sentiment.runtime.repro --jobs 1        # one stage at a time (default: the cores + 1)
    python -m imdb_sentiment.runtime.repro --force-train   # rerun the train stages and all after them

Steps: bring the train stages' upstream up to date (``dvc repro`` of it); run the train stages ``--jobs``
at a time, the longest (by its last run's ``train_seconds``) first; then a plain ``dvc repro`` for the rest
(compare, retrain_final, report), which also confirms that nothing is left to run. On Ctrl-C or SIGTERM every
running stage is stopped and ends its MLflow runs KILLED; the runner then exits 130 or 143.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from imdb_sentiment.runtime.process_groups import Children, Interrupted

GROUP = "train"  # the foreach stage whose items run side by side


@dataclass(frozen=True)
class Plan:
    upstream: list[str]  # stages the group depends on, in run order
    group: list[str]  # the group's stages, longest first
    downstream: list[str]  # stages that depend on the group, in run order


def expected_seconds(metrics_files: list[Path]) -> float:
    """A train stage's fit time in its last run (seeds x mean ``train_seconds``); unknown sorts first."""
    for path in metrics_files:
        try:
            metrics = json.loads(path.read_text())
            return float(metrics["train_seconds"]) * int(metrics["seeds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return math.inf


def plan(group: str = GROUP) -> Plan:
    """Read the pipeline's graph from DVC; stage names as ``dvc repro`` takes them."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo() as repo:
        graph = repo.index.graph  # an edge u -> v: stage u depends on stage v
        members = [stage for stage in graph if stage.addressing.split("@")[0] == group]
        if not members:
            raise SystemExit(
                f"error: dvc.yaml has no stage '{group}' (stages: {', '.join(sorted(s.addressing for s in graph))})"
            )
        upstream = set().union(*(nx.descendants(graph, stage) for stage in members)) - set(members)
        downstream = set().union(*(nx.ancestors(graph, stage) for stage in members)) - set(members)
        run_order = list(reversed(list(nx.topological_sort(graph))))
        root = Path(repo.root_dir)
        timing = {
            stage: expected_seconds([root / out.def_path for out in stage.outs if out.metric]) for stage in members
        }
    return Plan(
        upstream=[s.addressing for s in run_order if s in upstream],
        group=[s.addressing for s in sorted(members, key=timing.__getitem__, reverse=True)],
        downstream=[s.addressing for s in run_order if s in downstream],
    )


children = Children()
_print_lock = threading.Lock()


def dvc_repro(args: list[str], prefix: str = "", wait_for_lock: bool = False) -> int:
    """Run ``dvc repro args``; with a prefix, each output line carries it (stages running side by side)."""
    command = [sys.executable, "-m", "dvc", *(["--wait-for-lock"] if wait_for_lock else []), "repro", *args]
    if not prefix:
        with children.started(command) as process:
            return process.wait()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # lines as they happen, not in bursts through the pipe
    with (
        children.started(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace", env=env
        ) as process,
        process.stdout,
    ):
        for line in process.stdout:
            with _print_lock:
                print(f"{prefix}{line}", end="", flush=True)
        return process.wait()


def run_group(stages: list[str], jobs: int, force: bool) -> list[str]:
    """Run the stages ``jobs`` at a time; after a failure or a signal, start no more. Returns the failed."""
    failed: list[str] = []
    force_flag = ["--force"] if force else []

    def run_one(stage: str) -> None:
        if failed:
            return
        # --single-item: the upstream is already up to date, so no two processes check it at once;
        # --wait-for-lock: the side-by-side processes take DVC's repository lock in turn
        try:
            status = dvc_repro([*force_flag, "--single-item", stage], prefix=f"[{stage}] ", wait_for_lock=True)
        except Interrupted:
            return
        if status != 0:
            failed.append(stage)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run_one, stages))
    return failed


def run_pipeline(jobs: int, force_train: bool) -> int:
    steps = plan()
    if steps.upstream and dvc_repro(steps.upstream) != 0:
        return 1
    failed = run_group(steps.group, jobs, force_train)
    if children.signal is not None:
        return 1
    if failed:
        print(
            f"error: {', '.join(failed)} failed (see the lines marked with it above); "
            f"the stages after them did not run",
            file=sys.stderr,
        )
        return 1
    if force_train and steps.downstream and dvc_repro(["--force", "--single-item", *steps.downstream]) != 0:
        return 1
    return dvc_repro([])  # the rest; a no-op when everything is up to date


def default_jobs() -> int:
    """One more than the cores: a train stage starts up on one core (imports) and its fit leaves the cores
    partly idle, so a third stage on two cores fills them (docs/performance.md)."""
    return (os.cpu_count() or 1) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--jobs", "-j", type=int, default=default_jobs(), help=f"train stages at a time (default {default_jobs()})"
    )
    parser.add_argument(
        "--force-train",
        action="store_true",
        help="rerun the train stages and every stage after them even if nothing changed "
        "(the upstream still runs only if it changed)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, children.forward)
    try:
        status = run_pipeline(args.jobs, args.force_train)
    except Interrupted:
        status = 1
    if children.signal is not None:
        print(
            f"interrupted ({signal.Signals(children.signal).name}): the running stages were stopped and ended "
            f"their runs KILLED; rerun to finish",
            file=sys.stderr,
        )
        return 128 + children.signal  # 130 for Ctrl-C, 143 for SIGTERM, as the stages exit
    return status


if __name__ == "__main__":
    sys.exit(main())
