"""Stages print their own lines: TensorFlow's start-up banners are dropped unless the user sets its log level."""

from __future__ import annotations

import os
import subprocess
import sys

from imdb_sentiment.runtime.quiet import DEFAULTED, without_banners

IMPORT_TENSORFLOW = (
    "import sys; from imdb_sentiment.runtime.quiet import import_tensorflow; print('before', file=sys.stderr);"
    " import_tensorflow(); import keras; print('after', file=sys.stderr)"
)


def stderr_of_import(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", DEFAULTED)}
    return subprocess.run(
        [sys.executable, "-c", IMPORT_TENSORFLOW],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stderr


def test_importing_tensorflow_prints_nothing_by_default():
    assert stderr_of_import() == "before\nafter\n"


def test_a_stage_started_by_a_process_that_set_the_quiet_defaults_is_quiet_too():
    """A test or a sweep that imported the stage helpers passes their defaults on to the stages it starts."""
    assert stderr_of_import(TF_CPP_MIN_LOG_LEVEL="2", **{DEFAULTED: "TF_CPP_MIN_LOG_LEVEL"}) == "before\nafter\n"


def test_a_user_who_sets_the_log_level_gets_tensorflows_own_output():
    """Which banners TensorFlow prints depends on the CPU: the oneDNN one, or the CPU-feature one, or both."""
    output = stderr_of_import(TF_CPP_MIN_LOG_LEVEL="0")
    assert "oneDNN custom operations are on" in output or "cpu_feature_guard.cc" in output, output


def test_only_the_banners_are_dropped():
    captured = (
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        b"I0000 00:00:1796163921.270127   26403 port.cc:153] oneDNN custom operations are on.\n"
        b"I0000 00:00:1796163921.326555   26403 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with flags.\n"
        b"E0000 00:00:1796163921.3 26403 node_def_util.cc:682] a real error\n"
        b"Traceback (most recent call last):\n"
    )
    assert without_banners(captured) == (
        b"E0000 00:00:1796163921.3 26403 node_def_util.cc:682] a real error\nTraceback (most recent call last):\n"
    )
