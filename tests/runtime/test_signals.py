"""A Ctrl-C or SIGTERM that some code swallows still stops the stage: nothing is committed after it."""

from __future__ import annotations

import os
import signal

import pytest
from helpers.project import CONF_DIR
from hydra import compose, initialize_config_dir

from imdb_sentiment import cli
from imdb_sentiment.runtime import signals
from imdb_sentiment.runtime.outputs import atomic_path, write_json


@pytest.fixture
def handlers():
    """This process's handlers installed for the test, and the previous ones and a clean record after it."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signals.install()
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    signals.forget()


def swallowed(signum: int) -> None:
    """The signal sent to this process and its exception caught, as a broad ``except`` in a library would."""
    try:
        os.kill(os.getpid(), signum)
    except BaseException:  # noqa: BLE001 - the point of the test
        pass


@pytest.mark.usefixtures("handlers")
@pytest.mark.parametrize(("signum", "kind"), [(signal.SIGTERM, signals.Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_a_swallowed_signal_is_raised_again_before_an_output_is_committed(tmp_path, signum, kind):
    target = tmp_path / "metrics.json"
    write_json(target, {"previous": 1})
    swallowed(signum)
    with pytest.raises(kind):
        write_json(target, {"new": 1})
    assert target.read_text() == '{\n  "previous": 1\n}\n'
    assert list(tmp_path.iterdir()) == [target]  # no temporary left either


@pytest.mark.usefixtures("handlers")
def test_a_deferred_block_runs_to_its_end_and_the_signal_is_raised_after_it(tmp_path):
    steps = []
    with pytest.raises(signals.Terminated):
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("after the signal")
            assert signals.stopped() == signal.SIGTERM
    assert steps == ["after the signal"]


@pytest.mark.usefixtures("handlers")
def test_a_stage_that_swallowed_sigterm_exits_143_and_says_nothing_was_written(tmp_path, capsys):
    def stage(cfg):
        swallowed(signal.SIGTERM)
        return 1.0

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config")
    with pytest.raises(SystemExit) as exited:
        cli.run_stage(cfg, stage)
    assert exited.value.code == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "interrupted: received signal SIGTERM; nothing was written as complete"


@pytest.mark.usefixtures("handlers")
def test_an_interruption_may_say_exactly_what_was_committed(capsys):
    def stage(cfg):
        error = KeyboardInterrupt()
        error.outcome = "registered m version 2, @champion left on version 1"
        raise error

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config")
    with pytest.raises(SystemExit) as exited:
        cli.run_stage(cfg, stage)
    assert exited.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "interrupted: Ctrl-C; registered m version 2, @champion left on version 1"
    )


def test_atomic_path_commits_when_no_signal_came(tmp_path):
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("done")
    assert (tmp_path / "a.txt").read_text() == "done"
