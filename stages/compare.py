"""DVC stage `compare`, as `imdb-sentiment compare` runs it: what it does is in
imdb_sentiment/commands/compare.py, and in `python stages/compare.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import compare

if __name__ == "__main__":
    run_command(compare, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
