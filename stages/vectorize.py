"""DVC stage `vectorize`, as `imdb-sentiment vectorize` runs it: what it does is in
imdb_sentiment/commands/vectorize.py, and in `python stages/vectorize.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import vectorize

if __name__ == "__main__":
    run_command(vectorize, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
