"""``dvc repro`` with the train stages side by side: DVC's parallel stage execution, on both cores.

DVC runs a pipeline's stages one after another. Its documented way to run independent stages at once is
one ``dvc repro <stage>`` per stage: each holds the repository lock only while it checks and commits a
stage, not while the stage's command runs. So one train stage's start-up (~6 s of imports, single-threaded)
and its logging overlap another's fit. Every ``dvc repro`` still skips a stage whose inputs did not change,
so caching stays per variant, and ``dvc.lock`` ends up exactly as a plain ``dvc repro`` leaves it.

    python -m imdb_sentiment.repro            # what `make run` does: the same result as `dvc repro`
    python -m imdb_sentiment.repro --jobs 1   # one stage at a time
    python -m imdb_sentiment.repro --force    # rerun the train stages and all after them, even unchanged

Steps: bring the train stages' upstream up to date (``dvc repro`` of it); run the train stages ``--jobs``
at a time, the longest (by its last run's ``train_seconds``) first; then a plain ``dvc repro`` for the rest
(compare, retrain_final), which also confirms that nothing is left to run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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
            return float(metrics["train_seconds"]["mean"]) * int(metrics["seeds"])
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
            raise SystemExit(f"error: dvc.yaml has no stage '{group}' (stages: "
                             f"{', '.join(sorted(s.addressing for s in graph))})")
        upstream = set().union(*(nx.descendants(graph, stage) for stage in members)) - set(members)
        downstream = set().union(*(nx.ancestors(graph, stage) for stage in members)) - set(members)
        run_order = list(reversed(list(nx.topological_sort(graph))))
        root = Path(repo.root_dir)
        timing = {stage: expected_seconds([root / out.def_path for out in stage.outs if out.metric])
                  for stage in members}
    return Plan(upstream=[s.addressing for s in run_order if s in upstream],
                group=[s.addressing for s in sorted(members, key=timing.__getitem__, reverse=True)],
                downstream=[s.addressing for s in run_order if s in downstream])


_print_lock = threading.Lock()


def dvc_repro(args: list[str], prefix: str = "") -> int:
    """Run ``dvc repro args``; with a prefix, each output line carries it (stages running side by side)."""
    command = [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", *args]
    if not prefix:
        return subprocess.run(command).returncode
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as process:
        for line in process.stdout:
            with _print_lock:
                print(f"{prefix}{line}", end="", flush=True)
    return process.returncode


def run_group(stages: list[str], jobs: int, force: bool) -> list[str]:
    """Run the stages ``jobs`` at a time; after a failure, start no more. Returns the failed ones."""
    failed: list[str] = []
    force_flag = ["--force"] if force else []

    def run_one(stage: str) -> None:
        if failed:
            return
        # --single-item: the upstream is already up to date, so no two processes check it at once
        if dvc_repro([*force_flag, "--single-item", stage], prefix=f"[{stage}] ") != 0:
            failed.append(stage)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run_one, stages))
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", "-j", type=int, default=2, help="train stages at a time (default 2: both cores)")
    parser.add_argument("--force", "-f", action="store_true",
                        help="rerun the train stages and every stage after them even if nothing changed")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    steps = plan()
    if steps.upstream and dvc_repro(steps.upstream) != 0:
        return 1
    failed = run_group(steps.group, args.jobs, args.force)
    if failed:
        print(f"error: {', '.join(failed)} failed (see the lines marked with it above); "
              f"the stages after them did not run", file=sys.stderr)
        return 1
    if args.force and dvc_repro(["--force", "--single-item", *steps.downstream]) != 0:
        return 1
    return dvc_repro([])  # the rest; a no-op when everything is up to date


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the stages got the same Ctrl-C and end their runs KILLED
        print("interrupted", file=sys.stderr)
        sys.exit(130)
