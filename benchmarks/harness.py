"""What every benchmark shares: each contender in a fresh child process, the shell-command timer, the git
worktrees of ``--against``, the one table renderer and the results files.

A contender runs in its own interpreter so that its peak RSS (``ru_maxrss``) is its own and two contenders never
share a core; it prints one JSON line, which the parent reads back.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
REVISIONS = ROOT / "benchmarks" / "revisions.json"
FEATURE_SETS = ROOT / "benchmarks" / "feature_sets.json"
SEQUENCES = ROOT / "data" / "interim" / "sequences.npz"  # fetch's output: the benchmarks need `dvc repro vectorize`
PROCESSED = ROOT / "data" / "processed"
NUM_WORDS = 10000  # conf/data/imdb.yaml
BIN = Path(sys.executable).parent  # first on the children's PATH: the stages run `python`, this one, as in a venv
DVC = [str(BIN / "dvc"), "repro"]


def peak_rss_mb() -> float:
    """This process's peak RSS: a child reports it, so each contender's memory is measured alone."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tree_env(tree: Path) -> dict[str, str]:
    """The environment for a contender from ``tree``: its own ``src`` first, this interpreter's ``bin`` first on
    PATH, telemetry and banners off."""
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if tree != ROOT:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree / "src"), os.environ.get("PYTHONPATH")]))
    return env


def run_child(*args: str, tree: Path = ROOT) -> dict:
    """Run one contender in a fresh interpreter (``tree``'s own benchmarks/run.py) and read back its JSON line.

    ``tree``'s own script, not this one: an older revision's children import that revision's modules.
    """
    script = tree / "benchmarks" / "run.py"
    out = subprocess.run(
        [sys.executable, str(script), "--child", *args],
        cwd=tree,
        env=tree_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_command(script: str) -> dict:
    """Wall time of a shell command, and the largest peak RSS of any process it ran (DVC's stages too)."""
    started = time.perf_counter()
    subprocess.run(["sh", "-c", script], cwd=ROOT, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    # ru_maxrss of RUSAGE_CHILDREN is the largest of all waited-for descendants, DVC's stage processes too
    return {"seconds": seconds, "largest_process_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def time_commands(*commands: list[str], tree: Path = ROOT) -> dict:
    """Run the commands one after another in one fresh child (so its RUSAGE_CHILDREN is theirs alone); their total
    time and largest process."""
    result = run_child("command", " && ".join(" ".join(command) for command in commands), tree=tree)
    return {"seconds": result["seconds"], "largest_process_rss_mb": result["largest_process_rss_mb"]}


def notebook_against_ours(label: str, key: str, kind: str, *args: str) -> dict:
    """The notebook's method, then ours, each in its own child; ``key`` names the time they are compared on."""
    notebook = run_child(kind, "notebook", *args)
    ours = run_child(kind, "ours", *args)
    return {
        "benchmark": label,
        "notebook": notebook,
        "ours": ours,
        "speedup": notebook[key] / ours[key],
        "rss_ratio": notebook["peak_rss_mb"] / ours["peak_rss_mb"],
    }


class Table:
    """The one table renderer: a left-aligned label, right-aligned cells under a header, and free lines.

    ``live`` prints each line as it is added, so a long run shows its progress; :meth:`render` gives the whole
    table once the figures are in.
    """

    def __init__(self, widths: tuple[int, ...], header: tuple[str, ...], live: bool = False) -> None:
        self.widths, self.live, self.lines = widths, live, []
        self.header = self.format(*header)

    def format(self, label: str, *cells: str, suffix: str = "") -> str:
        columns = [f"{cell:>{width}}" for cell, width in zip(cells, self.widths[1:], strict=False)]
        return " ".join([f"{label:<{self.widths[0]}}", *columns]) + suffix

    def row(self, label: str, *cells: str, suffix: str = "") -> None:
        self.line(self.format(label, *cells, suffix=suffix))

    def line(self, text: str) -> None:
        self.lines.append(text)
        if self.live:
            print(text, flush=True)

    def render(self) -> str:
        return "\n".join([self.header, *self.lines])


def contest_table() -> Table:
    """The table of ``python benchmarks/run.py``: the notebook's method against ours."""
    return Table((24, 10, 10, 7, 11, 10), ("", "notebook", "ours", "ratio", "nb RSS", "our RSS"), live=True)


def contest_row(table: Table, row: dict, key: str, suffix: str = "") -> None:
    """A :func:`notebook_against_ours` row: both times, the speed-up and both peak RSS."""
    notebook, ours = row["notebook"], row["ours"]
    table.row(
        row["benchmark"],
        f"{notebook[key]:.3f} s",
        f"{ours[key]:.3f} s",
        f"{row['speedup']:.1f}x",
        f"{notebook['peak_rss_mb']:.0f} MB",
        f"{ours['peak_rss_mb']:.0f} MB",
        suffix=suffix,
    )


def new_results() -> dict:
    """The results file's skeleton: the machine the figures come from, and the contest rows."""
    return {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "rows": []}


def write_results(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n")


def short_revision(rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def worktree(rev: str) -> Path:
    """A fresh git worktree of ``rev`` with its data fetched and vectorized (from IMDB_MIRROR, else this tree's
    data/raw), so both sides start alike: no MLflow store, no DVC cache of trained models."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{rev[:12]}-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], cwd=ROOT, check=True, capture_output=True)
    return prepare_tree(folder)


def prepare_tree(folder: Path) -> Path:
    """``folder``'s data fetched and vectorized, from IMDB_MIRROR, else this tree's data/raw."""
    env = {**tree_env(folder), "IMDB_MIRROR": os.environ.get("IMDB_MIRROR", str(ROOT / "data" / "raw"))}
    subprocess.run(DVC + ["vectorize"], cwd=folder, env=env, check=True, capture_output=True)
    return folder


@contextmanager
def worktrees(revs: dict[str, str]) -> Iterator[dict[str, Path]]:
    """A worktree per side (``{"before": rev, ...}``), removed on the way out whatever happened."""
    trees = {side: worktree(rev) for side, rev in revs.items()}
    try:
        yield trees
    finally:
        for tree in trees.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
