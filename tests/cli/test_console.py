"""``imdb-sentiment <command>``: every command reachable, predict's options turned into the same overrides as
``python stages/predict.py`` takes, and nothing left behind in a folder that is not a project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.project import ROOT

from imdb_sentiment import commands
from imdb_sentiment.cli import command_summaries
from imdb_sentiment.commands.predict import overrides


def console(*args: str, cwd: Path, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m imdb_sentiment``, which runs what the console script runs (cli.main)."""
    return subprocess.run(
        [sys.executable, "-m", "imdb_sentiment", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        env=env,
    )


def test_every_command_module_is_listed_and_every_pipeline_stage_has_one_and_a_script():
    on_disk = {p.stem for p in (ROOT / "src/imdb_sentiment/commands").glob("*.py") if p.stem != "__init__"}
    assert set(commands.PIPELINE) | set(commands.TOOLS) == on_disk
    dvc_stages = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    assert dvc_stages == set(commands.PIPELINE)
    assert {p.stem for p in (ROOT / "stages").glob("*.py")} == on_disk
    assert all(summary and len(summary) <= 110 for summary in command_summaries().values())


def test_help_lists_the_commands_in_pipeline_order(tmp_path):
    done = console("--help", cwd=tmp_path)
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ") and "imdb-" not in line]
    assert listed == [*commands.PIPELINE, *commands.TOOLS, "run"]
    assert list(tmp_path.iterdir()) == []


def test_predict_options_become_the_overrides_the_stage_script_takes():
    assert overrides(["A wonderful, moving film"]) == ["text=A wonderful, moving film"]
    assert overrides(["--file", "-", "--json"]) == ["file=-", "output=json"]
    assert overrides(["--json", "Great", "final.threshold=0.7", "--cfg", "job"]) == [
        "text=Great",
        "output=json",
        "final.threshold=0.7",
        "--cfg",
        "job",
    ]
    assert overrides(["text=a=b, c", "--help"]) == ["text=a=b, c", "--help"]  # the stage script's form too


@pytest.mark.parametrize("args", [["one", "two"], ["--file", "reviews.txt", "a review"]])
def test_predict_takes_one_review_or_a_file(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        overrides(args)
    assert (
        exit_.value.code == 2 and 'give one review, in quotes ("Great film"), or --file FILE' in capsys.readouterr().err
    )


def test_a_pipeline_command_outside_the_project_is_refused_and_leaves_nothing(tmp_path):
    for command in ("train", "run"):
        done = console(command, "model=linear", cwd=tmp_path)
        assert done.returncode == 2
        assert f"imdb-sentiment {command} runs in the project's folder (the one with dvc.yaml and conf/)" in done.stderr
    helped = console("train", "--help", cwd=tmp_path)  # help anywhere, from the installed conf/
    assert helped.returncode == 0 and helped.stdout.startswith("Train one model variant")
    unknown = console("trian", cwd=tmp_path)
    assert unknown.returncode == 2 and "has no command 'trian'; it has: fetch, vectorize, train" in unknown.stderr
    assert list(tmp_path.iterdir()) == []


def test_predict_outside_the_project_without_a_store_says_where_it_looked_and_creates_none(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = console("predict", "A fine film", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert f"no MLflow store at sqlite:///{tmp_path.resolve()}/mlflow.db" in done.stderr
    assert "set MLFLOW_TRACKING_URI to the project's store" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no mlflow.db, no logs/, no .hydra/
