"""DVC stage `report`, as `imdb-sentiment report` runs it: what it does is in
imdb_sentiment/commands/report.py, and in `python stages/report.py --help`."""

import sys
from pathlib import Path

from imdb_sentiment.cli import run_command
from imdb_sentiment.commands import report

if __name__ == "__main__":
    run_command(report, sys.argv[1:], Path(__file__).resolve().parents[1] / "conf")
