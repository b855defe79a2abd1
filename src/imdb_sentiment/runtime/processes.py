"""Which process a run belongs to, and whether that process is still alive (psutil, on every platform).

A process killed with SIGKILL (the OOM killer, a preempted node, a power cut) cannot end its MLflow runs:
they stay RUNNING. Every run therefore records the host, the pid and the pid's start time, so a later
stage on the same host can tell a run whose process is gone from one that is still working. The start
time makes a reused pid or a reboot count as gone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache

import psutil

HOST_TAG, PID_TAG, STARTED_TAG = "process.host", "process.pid", "process.started"
ENDED = {psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD}  # a zombie has ended; only its exit status waits for its parent


def start_time(pid: int) -> str | None:
    """The start time of a running process (seconds since the epoch, as psutil reads it); None if it has ended."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() in ENDED:
                return None
            return repr(process.create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # another user's live process: alive, its start time unknown
        return ""


def is_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` still runs on this host; with ``started``, whether it is still that very process
    (a reused pid or a reboot is another)."""
    current = start_time(pid)
    return current is not None and (started is None or current in (started, ""))


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    started: str

    def tags(self) -> dict[str, str]:
        return {HOST_TAG: self.host, PID_TAG: str(self.pid), STARTED_TAG: self.started}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> ProcessIdentity | None:
        """The identity a run recorded; None for a run without (all of) the tags."""
        try:
            return cls(tags[HOST_TAG], int(tags[PID_TAG]), tags[STARTED_TAG])
        except (KeyError, ValueError):
            return None

    def has_ended(self) -> bool:
        """Whether this process is certainly gone: only answerable on its own host."""
        if self.host != socket.gethostname():
            return False
        return not is_alive(self.pid, self.started)


def this_process() -> ProcessIdentity | None:
    """The identity of the calling process."""
    return _identity(os.getpid())


@cache
def _identity(pid: int) -> ProcessIdentity | None:  # keyed by pid: a forked child is another process
    started = start_time(pid)
    return ProcessIdentity(socket.gethostname(), pid, started) if started else None


def process_tags() -> dict[str, str]:
    """The tags that let a later stage end this process's runs if it dies without ending them."""
    identity = this_process()
    return identity.tags() if identity else {}
