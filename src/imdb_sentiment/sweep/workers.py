"""``sweep.workers=N``: N worker processes of the same sweep command on this machine, each in its own group.

They are independent workers of one study (as on N machines); this process only starts them, passes Ctrl-C
and SIGTERM on (each worker then queues its trial again and ends its runs KILLED) and waits.
"""

from __future__ import annotations

import logging
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from imdb_sentiment.runtime.process_groups import StageProcessGroups

log = logging.getLogger(__name__)


def worker_command(config_path: str, overrides: list[str], index: int, output_dir: str) -> list[str]:
    """``python -m imdb_sentiment sweep`` with this sweep's config folder and overrides, as one worker."""
    run_dir = Path(output_dir) / f"worker_{index}"
    prefix = [sys.executable, "-m", "imdb_sentiment", "sweep", "--config-path", config_path]
    return [*prefix, *overrides, "sweep.workers=1", f"hydra.run.dir={run_dir}"]


def run_workers(count: int, config_path: str, overrides: list[str], output_dir: str) -> int:
    """Start ``count`` workers, wait for all; the exit status is the worst of theirs."""
    children = StageProcessGroups()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, children.forward)
    with ExitStack() as stack:
        processes = [
            stack.enter_context(children.started(worker_command(config_path, overrides, i, output_dir)))
            for i in range(count)
        ]
        log.info("%d sweep workers started: pids %s", count, ", ".join(str(p.pid) for p in processes))
        codes = [process.wait() for process in processes]
    failed = [code for code in codes if code != 0]
    return max(failed, key=abs) if failed else 0
