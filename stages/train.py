"""DVC stage `train@<variant>`, as `imdb-sentiment train` runs it: what it does is in
imdb_sentiment/commands/train.py, and in `python stages/train.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import train

if __name__ == "__main__":
    run_command(train, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
