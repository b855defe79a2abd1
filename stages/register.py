"""DVC stage `register`, as `imdb-sentiment register` runs it: what it does is in
imdb_sentiment/commands/register.py, and in `python stages/register.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import register

if __name__ == "__main__":
    run_command(register, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
