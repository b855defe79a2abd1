"""DVC stage `fetch`, as `imdb-sentiment fetch` runs it: what it does is in
imdb_sentiment/commands/fetch.py, and in `python stages/fetch.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import fetch

if __name__ == "__main__":
    run_command(fetch, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
