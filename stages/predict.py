"""Scoring new reviews (not a DVC stage), as `imdb-sentiment predict` runs it: what it does is in
imdb_sentiment/commands/predict.py, and in `python stages/predict.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import predict

if __name__ == "__main__":
    run_command(predict, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
