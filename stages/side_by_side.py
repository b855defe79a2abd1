"""DVC stage `side_by_side`, as `imdb-sentiment side_by_side` runs it: what it does is in
imdb_sentiment/commands/side_by_side.py, and in `python stages/side_by_side.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import side_by_side

if __name__ == "__main__":
    run_command(side_by_side, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
