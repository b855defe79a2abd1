"""Free review text on the command line reaches the config unchanged; expected errors end a run cleanly."""

from __future__ import annotations

import ast
import os
import string
import subprocess
import sys

import pytest
from helpers.project import CONF_DIR
from hydra import compose, initialize_config_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_sentiment import cli
from imdb_sentiment.cli import quote_free_text
from imdb_sentiment.runtime.errors import TrainingDiverged


def composed_text(value: str) -> str:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="predict", overrides=quote_free_text([f"text={value}"], ("text",))).text


def test_punctuation_quotes_and_interpolations_survive():
    for value in [
        "A wonderful, moving film",
        'It\'s "great" [really] ${x} a\\b c:d=e',
        "end\\",
        "don't\\'s",
        "{a: 1}",
        "x=y,z",
    ]:
        assert composed_text(value) == value


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=string.printable.replace("\r", "").replace("\x0b", "").replace("\x0c", "").replace("\n", ""),
        min_size=1,
        max_size=40,
    )
)
def test_any_printable_text_round_trips(value):
    assert composed_text(value) == value


def test_values_already_quoted_for_hydra_and_other_keys_are_left_alone():
    assert quote_free_text(["text='a, b'", "file=x.txt", "trainer.seeds=[0,1]"], ("text",)) == [
        "text='a, b'",
        "file=x.txt",
        "trainer.seeds=[0,1]",
    ]


def test_an_expected_error_ends_a_single_run_with_exit_2_but_only_fails_its_job_in_a_multirun(monkeypatch):
    def diverges(cfg):
        raise TrainingDiverged("diverged in epoch 3")

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config")
    with pytest.raises(SystemExit) as exited:
        cli.run_stage(cfg, diverges)
    assert exited.value.code == 2
    monkeypatch.setattr(cli, "in_multirun", lambda: True)  # Hydra records the failed job; Optuna marks the trial
    with pytest.raises(TrainingDiverged):
        cli.run_stage(cfg, diverges)


EXIT_SCRIPT = """
import atexit, sys, threading, time
from imdb_sentiment.cli import run_and_exit

buffered = open(sys.argv[1], "w")
atexit.register(lambda: (buffered.write("atexit ran"), buffered.close()))

class TornDown:  # its __del__ runs only when the interpreter tears its modules down
    def __del__(self):
        sys.stderr.write("torn down")

torn_down = TornDown()

def main():
    print("printed before leaving", end="")  # no newline: still in stdout's buffer
    if sys.argv[2] == "thread":
        threading.Thread(target=lambda: (time.sleep(0.5), print(" thread finished", end=""))).start()
    if sys.argv[2] == "daemon":
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    if sys.argv[3] != "ok":
        sys.exit(int(sys.argv[3]) if sys.argv[3].isdigit() else sys.argv[3])

run_and_exit(main)
"""


@pytest.mark.parametrize(
    ("thread", "outcome", "status"),
    [
        ("none", "ok", 0),
        ("none", "2", 2),
        ("none", "a message", 1),
        ("thread", "ok", 0),
        ("thread", "3", 3),
        ("daemon", "ok", 0),
    ],
)
def test_run_and_exit_keeps_the_exit_status_atexit_handlers_and_buffered_output(tmp_path, thread, outcome, status):
    script = tmp_path / "stage.py"
    script.write_text(EXIT_SCRIPT)
    marker = tmp_path / "marker.txt"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}  # keep stdout buffered
    done = subprocess.run(
        [sys.executable, str(script), str(marker), thread, outcome], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == status
    expected = "printed before leaving" + (" thread finished" if thread == "thread" else "")
    assert done.stdout == expected  # buffered output flushed; a live thread is waited for
    assert marker.read_text() == "atexit ran"
    assert ("a message" in done.stderr) == (outcome == "a message")
    assert "torn down" not in done.stderr  # the teardown is skipped, also after waiting for a live thread


@pytest.mark.parametrize("stage", ["train", "predict"])
def test_help_starts_with_what_the_stage_does_and_three_examples_before_hydras_part(stage):
    script = CONF_DIR.parent / "stages" / f"{stage}.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    about, hydra_part = done.stdout.split("== Configuration groups ==", 1)
    command = CONF_DIR.parent / "src" / "imdb_sentiment" / "commands" / f"{stage}.py"
    assert about.strip() == ast.get_docstring(ast.parse(command.read_text())).strip()  # the command's, verbatim
    examples = [line for line in about.splitlines() if f"imdb-sentiment {stage} " in line]
    assert len(examples) == 3
    assert "== Config ==" in hydra_part and "model:" in hydra_part  # Hydra's generated part follows
