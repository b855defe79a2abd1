"""Child processes in process groups of their own, so a signal to the runner reaches each whole stage."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StageProcessGroups:
    """The ``dvc repro`` processes running now, each in its own process group.

    Ctrl-C and SIGTERM reach the runner only. It sends SIGINT to every group: DVC ignores SIGINT while its
    stage runs and waits for it, and the stage ends its MLflow runs KILLED and removes its temporary
    outputs, so when a ``dvc repro`` has exited, its stage has too. Nothing new starts afterwards.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen] = set()
        self.signal: int | None = None

    @contextmanager
    def started(self, command: list[str], **kwargs) -> Iterator[subprocess.Popen]:
        """A child in its own process group, known to :meth:`forward` until the block ends."""
        with self.lock:
            if self.signal is not None:
                raise Interrupted()
            process = subprocess.Popen(command, process_group=0, **kwargs)
            self.running.add(process)
        try:
            yield process
        finally:
            with self.lock:
                self.running.discard(process)

    def forward(self, signum: int, frame=None) -> None:
        with self.lock:
            self.signal = signum
            for process in self.running:
                try:
                    os.killpg(process.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass


class Interrupted(Exception):
    """A signal arrived: start no more stages."""
