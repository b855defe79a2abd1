"""DVC stage `final`, as `imdb-sentiment final` runs it: what it does is in
imdb_sentiment/commands/final.py, and in `python stages/final.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import final

if __name__ == "__main__":
    run_command(final, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
