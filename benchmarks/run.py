"""`python benchmarks/run.py [options]`: the benchmarks package run as `python -m benchmarks` would (the usage is
in benchmarks/__main__.py).

The script path stays because the README and docs name it, and because each contender's child process runs
its tree's own benchmarks/run.py: an ``--against`` worktree of an older revision has only this file.
"""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    # the project root instead of benchmarks/, so the modules import as benchmarks.* and none of their names
    # (pipeline, vectorize, ...) shadows a top-level module of the same name
    sys.path[:] = [str(HERE.parent), *(entry for entry in sys.path if Path(entry or ".").resolve() != HERE)]
    runpy.run_module("benchmarks", run_name="__main__")
