"""``dvc repro`` with independent stages side by side, on every core.

Home-made because DVC runs no two stages at once (treeverse/dvc#755, open). DVC's documented way to run
independent stages at once is one ``dvc repro <stage>`` per stage: each holds the repository lock only while it
checks and commits a stage, not while the stage's command runs. So here each stage starts as soon as every
stage it depends on has finished, ``--jobs`` at a time: the train stages side by side, then final beside
baselines, side_by_side beside register. Every ``dvc repro`` still skips a stage whose inputs did not change,
and ``dvc.lock`` gets the same entries as from a plain ``dvc repro``; a last plain ``dvc repro`` confirms that
nothing is left to run.

    python -m imdb_sentiment.runtime.repro                 # what `make run` does: the result of `dvc repro`
    python -m imdb_sentiment.runtime.repro --jobs 1        # plain `dvc repro`, one stage at a time
    python -m imdb_sentiment.runtime.repro --force-train   # rerun the train stages and all after them

Among the stages ready to start, the longest (by its last run's ``train_seconds``) goes first. On Ctrl-C or
SIGTERM every running stage is stopped and ends its MLflow runs KILLED; the runner then exits 130 or 143.
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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from imdb_sentiment.runtime.process_groups import Interrupted, StageProcessGroups

FORCED_FROM = "train"  # --force-train: the foreach stage whose items, and every stage after them, are forced


@dataclass(frozen=True)
class Plan:
    order: list[str]  # every stage, in an order dvc repro could run them
    needs: dict[str, set[str]]  # stage -> the stages it depends on directly
    seconds: dict[str, float]  # stage -> its expected run time (unknown: infinite, so it starts first)
    forced: set[str]  # the stages --force-train reruns


def expected_seconds(metrics_files: list[Path]) -> float:
    """A train stage's fit time in its last run (seeds x mean ``train_seconds``, from the ``metrics.json`` in its
    report folder); unknown sorts first."""
    for path in metrics_files:
        try:
            metrics = json.loads(path.read_text())
            return float(metrics["train_seconds"]) * int(metrics["seeds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return math.inf


def plan() -> Plan:
    """Read the pipeline's graph from DVC; stage names as ``dvc repro`` takes them."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo() as repo:
        graph = repo.index.graph  # an edge u -> v: stage u depends on stage v
        root = Path(repo.root_dir)
        members = [stage for stage in graph if stage.addressing.split("@")[0] == FORCED_FROM]
        forced = set(members).union(*(nx.ancestors(graph, stage) for stage in members))
        return Plan(
            order=[stage.addressing for stage in reversed(list(nx.topological_sort(graph)))],
            needs={stage.addressing: {dep.addressing for dep in graph.successors(stage)} for stage in graph},
            seconds={
                stage.addressing: expected_seconds([root / out.def_path / "metrics.json" for out in stage.outs])
                for stage in graph
            },
            forced={stage.addressing for stage in forced},
        )


children = StageProcessGroups()
_print_lock = threading.Lock()
# What DVC prints after each stage that changed dvc.lock; the runner says it once instead
DVC_HINT = {
    "To track the changes with git, run:",
    "git add dvc.lock",
    "To enable auto staging, run:",
    "dvc config core.autostage true",
    "Use `dvc push` to send your updates to remote storage.",
}
_hinted: list[bool] = []


def dvc_repro(args: list[str], prefix: str = "", wait_for_lock: bool = False) -> int:
    """Run ``dvc repro args``; with a prefix, each output line carries it (stages running side by side)."""
    command = [sys.executable, "-m", "dvc", *(["--wait-for-lock"] if wait_for_lock else []), "repro", *args]
    if not prefix:
        with children.started(command) as process:
            return process.wait()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # lines as they happen, not in bursts through the pipe
    # One compute thread a stage: stages side by side already fill the cores, and PyTorch's OpenMP threads
    # spin while they wait, so three stages of two threads on two cores ran up to 10x slower (docs/performance.md)
    env.setdefault("OMP_NUM_THREADS", "1")
    with (
        children.started(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace", env=env
        ) as process,
        process.stdout,
    ):
        for line in process.stdout:
            if line.strip() in DVC_HINT:
                _hinted.append(True)  # said once, at the end (run_pipeline), not after every stage
                continue
            if not line.strip():
                continue
            with _print_lock:
                print(f"{prefix}{line}", end="", flush=True)
        return process.wait()


class Scheduler:
    """Starts each stage once the stages it needs have finished, ``jobs`` at a time; after a failure or a signal
    it starts no more."""

    def __init__(self, steps: Plan, jobs: int, force_train: bool) -> None:
        self.steps, self.jobs, self.force_train = steps, jobs, force_train
        self.done: set[str] = set()
        self.failed: list[str] = []

    def ready(self, started: set[str]) -> list[str]:
        waiting = [s for s in self.steps.order if s not in started and self.steps.needs[s] <= self.done]
        return sorted(waiting, key=self.steps.seconds.__getitem__, reverse=True)

    def run_one(self, stage: str) -> None:
        # --single-item: the stages it needs are up to date, so no two processes check one at once;
        # --wait-for-lock: the side-by-side processes take DVC's repository lock in turn
        force = ["--force"] if self.force_train and stage in self.steps.forced else []
        try:
            status = dvc_repro([*force, "--single-item", stage], prefix=f"[{stage}] ", wait_for_lock=True)
        except Interrupted:
            status = None
        if status == 0:
            self.done.add(stage)
        elif status is not None:
            self.failed.append(stage)

    def run(self) -> list[str]:
        """Run every stage; the ones that failed."""
        started: set[str] = set()
        running: set[Future] = set()
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            while True:
                if not self.failed and children.signal is None:
                    for stage in self.ready(started)[: self.jobs - len(running)]:
                        started.add(stage)
                        running.add(pool.submit(self.run_one, stage))
                if not running:
                    return self.failed
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()


def run_pipeline(jobs: int, force_train: bool) -> int:
    if jobs == 1 and not force_train:
        return dvc_repro([])  # the switch back to plain behaviour: DVC's own runner
    failed = Scheduler(plan(), jobs, force_train).run()
    if children.signal is not None:
        return 1
    if failed:
        print(
            f"error: {', '.join(failed)} failed (see the lines marked with it above); "
            f"the stages after them did not run",
            file=sys.stderr,
        )
        return 1
    status = dvc_repro(["--quiet"])  # a no-op when everything is up to date: it prints only errors
    if _hinted and status == 0:
        print("dvc.lock changed: `git add dvc.lock reports` keeps the results; `dvc push` sends data and models")
    return status


def default_jobs() -> int:
    """One more than the cores: a stage starts up on one core (imports) and a fit leaves the cores partly idle,
    so a third stage on two cores fills them (docs/performance.md)."""
    return (os.cpu_count() or 1) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs_help = f"stages at a time (default {default_jobs()}; 1: plain dvc repro)"
    parser.add_argument("--jobs", "-j", type=int, default=default_jobs(), help=jobs_help)
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
