"""The command line: ``imdb-sentiment <command>`` (and ``python stages/<command>.py``), and what every command
does around its work: validate the config, report expected errors in one line, leave quickly."""

from __future__ import annotations

import ast
import atexit
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import NoReturn, TypeVar

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from imdb_sentiment import commands
from imdb_sentiment.config.schema import Config, validate
from imdb_sentiment.runtime import signals
from imdb_sentiment.runtime.errors import PipelineError
from imdb_sentiment.runtime.quiet import set_quiet_defaults
from imdb_sentiment.runtime.scratch import remove_stale_temporaries

log = logging.getLogger("imdb_sentiment")
set_quiet_defaults()  # before any stage imports TensorFlow or MLflow
T = TypeVar("T")


_running: list[ModuleType] = []  # the command run_command runs: its docstring is the help


def stage_help() -> str:
    """The running command's docstring, which ``--help`` prints above Hydra's part (conf/pipeline.yaml).

    One text serves as the code's documentation and the user's help, so the two cannot drift apart.
    ``$`` is doubled because Hydra passes the help through ``string.Template``.
    """
    doc = (_running[-1].__doc__ if _running else None) or "An imdb-sentiment command.\n"
    return doc.strip().replace("$", "$$") + "\n"


OmegaConf.register_new_resolver("stage_help", stage_help, replace=True)


def full_errors_wanted() -> bool:
    """The same switch as Hydra's: HYDRA_FULL_ERROR=1 shows the traceback of expected errors too."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_stage(cfg: DictConfig, stage: Callable[[Config], T]) -> T:
    """Validate ``cfg`` before any work, run ``stage``, and turn expected failures into one-line errors.

    Exit codes: 2 for an expected error (bad config or input, unreachable store, diverged training),
    130 when interrupted with Ctrl-C, 143 when terminated. In a multirun an expected error is printed in
    one line and raised to Hydra, which marks the job failed: Hydra's basic sweeper stops with exit code 1.
    Returns what ``stage`` returns.
    """
    signals.install()  # SIGTERM like Ctrl-C, so ``finally`` blocks and ``atexit`` handlers run; never lost
    remove_stale_temporaries(Path.cwd())  # what a SIGKILLed stage left in the project's scratch folder
    try:
        result = stage(validate(cfg))
        signals.raise_if_stopped()  # a signal some library swallowed: the stage did not finish
        return result
    except PipelineError as exc:
        if full_errors_wanted():
            raise
        print(f"error: {exc}", file=sys.stderr)
        if in_multirun():
            raise
        sys.exit(2)
    except KeyboardInterrupt as exc:
        if full_errors_wanted():
            raise
        terminated = isinstance(exc, signals.Terminated)
        outcome = getattr(exc, "outcome", "nothing was written as complete")  # or what was, exactly
        print(f"interrupted: {str(exc) or 'Ctrl-C'}; {outcome}", file=sys.stderr)
        sys.exit(143 if terminated else 130)


def exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` would give: None is 0, a message is printed and is 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


_leaving_status: list[int] = []  # set by run_and_exit: the status to leave with once the atexit handlers ran
FULL_TEARDOWN = "IMDB_SENTIMENT_FULL_TEARDOWN"  # =1: the interpreter's own teardown, the plain behaviour


def _leave_without_teardown() -> None:
    """The last ``atexit`` handler (registered when this module loads, and handlers run last-registered
    first): every handler of TensorFlow, MLflow and the stage has run, so only the teardown is left to skip.

    ``logging``'s own handler was registered earlier and would run after this one: its shutdown is done here.
    """
    if not _leaving_status or os.environ.get(FULL_TEARDOWN) == "1":
        return  # an ordinary exit (a test process, a Hydra multirun's parent, or asked for): leave it alone
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`... | head`) or stream: nothing left to tell it
            pass
    os._exit(_leaving_status[0])


atexit.register(_leave_without_teardown)


def run_and_exit(main: Callable[[], object]) -> NoReturn:
    """Run a stage's Hydra ``main``, then leave without tearing the interpreter down.

    Home-made because no library skips it: unloading TensorFlow's thousands of modules and its C++ state is
    slow (docs/performance.md, "Where the time goes") and comes after every output is written and every run
    has ended; ``IMDB_SENTIMENT_FULL_TEARDOWN=1`` keeps the interpreter's own teardown. The exit is
    otherwise the normal one: it waits for non-daemon threads (a launcher's pool), runs the ``atexit``
    handlers (MLflow's, logging's flush) and flushes the streams; :func:`_leave_without_teardown` then
    skips the teardown.
    """
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    _leaving_status.append(exit_status(code))
    sys.exit(_leaving_status[0])


def quote_free_text(args: list[str], keys: tuple[str, ...]) -> list[str]:
    """Quote ``key=value`` arguments whose value is free text, so Hydra takes it literally.

    Hydra's override grammar reads commas, brackets and ``${`` in a value as syntax, so a review passed as
    ``text="A wonderful, moving film"`` (the shell drops the quotes) would not parse. Values the user
    already quoted for Hydra are left alone.
    """
    quoted = []
    for arg in args:
        key, sep, value = arg.partition("=")
        already = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
        if sep and key in keys and not already:
            escaped = re.sub(r"(\\+)(?='|$)", r"\1\1", value)  # Hydra unescapes backslashes only before a quote
            escaped = escaped.replace("'", "\\'").replace("${", "\\${")
            arg = f"{key}='{escaped}'"
        quoted.append(arg)
    return quoted


PROG = "imdb-sentiment"  # the console script (pyproject.toml's [project.scripts])
PACKAGED_CONF = "pkg://imdb_sentiment.conf"  # conf/, installed with the package (pyproject.toml's package-dir)


def project_conf(folder: Path) -> Path | None:
    """The conf/ of the project rooted at ``folder``, if it is one: a project's own config comes first."""
    conf = folder / "conf"
    return conf if (conf / "config.yaml").is_file() and (folder / "dvc.yaml").is_file() else None


def run_command(command: ModuleType, args: list[str], conf_dir: Path | None) -> NoReturn:
    """Run a module of :mod:`imdb_sentiment.commands` as a Hydra app on ``args`` (overrides and Hydra's flags),
    composing its config from ``conf_dir`` (the packaged conf/ when None), and leave."""
    name = command.__name__.rpartition(".")[2]
    _running.append(command)
    if hasattr(command, "overrides"):  # the command's own options (predict's --file, --json) as overrides
        args = command.overrides(args)
    config_path = str(conf_dir.resolve()) if conf_dir else PACKAGED_CONF

    @hydra.main(version_base="1.3", config_path=config_path, config_name=command.CONFIG)
    def main(cfg: DictConfig) -> object:
        return run_stage(cfg, command.task)

    # The job name names the logs folder (conf/pipeline.yaml): the command's, whoever started it.
    sys.argv = [f"{PROG} {name}", *quote_free_text(args, getattr(command, "FREE_TEXT", ())), f"hydra.job.name={name}"]
    run_and_exit(main)


def command_summaries() -> dict[str, str]:
    """Each command's name and the first line of its docstring, in the pipeline's order then the tools', read
    without importing the commands (a fast ``--help``)."""
    folder = resources.files("imdb_sentiment.commands")
    return {
        name: (ast.get_docstring(ast.parse(folder.joinpath(f"{name}.py").read_text())) or "").split("\n")[0]
        for name in (*commands.PIPELINE, *commands.TOOLS)
    }


def usage() -> str:
    summaries = command_summaries()
    width = max(map(len, summaries))
    rows = [f"  {name:<{width}}  {summary}" for name, summary in summaries.items()]
    return "\n".join(
        [
            f"usage: {PROG} <command> [options] [key=value ...]",
            "",
            "The IMDB review classifier study: its pipeline stages and tools. Every command takes Hydra overrides",
            "(key=value) and --help. Run in the project folder it uses the project's conf/; elsewhere (predict)",
            "the installed defaults, and MLFLOW_TRACKING_URI names the MLflow store.",
            "",
            "the pipeline's stages, in order, then the tools:",
            *rows,
            f"  {'run':<{width}}  Run the whole pipeline, as dvc repro does, the train stages side by side (make run).",
            "",
            f'  {PROG} predict "A wonderful, moving film"      {PROG} predict --file reviews.txt --json',
        ]
    )


def main(argv: list[str] | None = None) -> NoReturn:
    """``imdb-sentiment <command> ...``: run one of :mod:`imdb_sentiment.commands`, or the pipeline (``run``)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if args else 2)
    name, rest = args[0].replace("-", "_"), args[1:]  # side-by-side or side_by_side
    conf = project_conf(Path.cwd())
    if name == "run":
        from imdb_sentiment.runtime.repro import main as repro

        sys.exit(repro(rest) if conf else not_in_a_project(name))
    names = (*commands.PIPELINE, *commands.TOOLS)
    if name not in names:
        print(f"error: {PROG} has no command {name!r}; it has: {', '.join([*names, 'run'])}", file=sys.stderr)
        sys.exit(2)
    command = importlib.import_module(f"imdb_sentiment.commands.{name}")
    asks_help = any(arg in ("--help", "-h", "--hydra-help") for arg in rest)  # help reads no project files
    if conf is None and not (getattr(command, "RUNS_ANYWHERE", False) or asks_help):
        sys.exit(not_in_a_project(name))
    run_command(command, rest, conf)


def not_in_a_project(name: str) -> int:
    print(
        f"error: {PROG} {name} runs in the project's folder (the one with dvc.yaml and conf/), "
        f"not in {Path.cwd()}: cd there first",
        file=sys.stderr,
    )
    return 2
