"""The Optuna search (not a DVC stage), as `imdb-sentiment sweep` runs it: what it does is in
imdb_sentiment/commands/sweep.py, and in `python stages/sweep.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import sweep

if __name__ == "__main__":
    run_command(sweep, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
