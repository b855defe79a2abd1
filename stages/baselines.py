"""DVC stage `baselines`, as `imdb-sentiment baselines` runs it: what it does is in
imdb_sentiment/commands/baselines.py, and in `python stages/baselines.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import baselines

if __name__ == "__main__":
    run_command(baselines, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
