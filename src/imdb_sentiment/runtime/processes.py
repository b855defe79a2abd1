"""Which process a run belongs to, and whether that process is still alive.

A process killed with SIGKILL (the OOM killer, a preempted node, a power cut) cannot end its MLflow runs:
they stay RUNNING. Every run therefore records the host, the pid and the pid's start time, so a later
stage on the same host can tell a run whose process is gone from one that is still working. The start
time (Linux: ``/proc/<pid>/stat`` field 22, with the boot id) makes a reused pid or a reboot count as gone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HOST_TAG, PID_TAG, STARTED_TAG = "process.host", "process.pid", "process.started"
START_TIME_FIELD = 19  # starttime (field 22 of /proc/<pid>/stat), counted from the state (field 3)
ENDED_STATES = {"Z", "X"}  # a zombie has ended; only its exit status waits for its parent


@cache
def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def start_time(pid: int) -> str | None:
    """``<boot id>:<start time in clock ticks>`` of a running process; None if it has ended or on non-Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name before ")" may hold spaces and parentheses
    if boot_id() is None or len(fields) <= START_TIME_FIELD or fields[0] in ENDED_STATES:
        return None
    return f"{boot_id()}:{fields[START_TIME_FIELD]}"


def is_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` still runs on this host; with ``started``, whether it is still that very process
    (a reused pid or a reboot is another). Where ``/proc`` cannot tell (not Linux), a signal-0 probe answers."""
    current = start_time(pid)
    if current is None and boot_id() is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
        return True
    return current is not None and (started is None or current == started)


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
        """Whether this process is certainly gone: only answerable on its own host (and on Linux)."""
        if self.host != socket.gethostname() or this_process() is None:
            return False
        return not is_alive(self.pid, self.started)


def this_process() -> ProcessIdentity | None:
    """The identity of the calling process; None where its start time cannot be read (not Linux)."""
    return _identity(os.getpid())


@cache
def _identity(pid: int) -> ProcessIdentity | None:  # keyed by pid: a forked child is another process
    started = start_time(pid)
    return ProcessIdentity(socket.gethostname(), pid, started) if started else None


def process_tags() -> dict[str, str]:
    """The tags that let a later stage end this process's runs if it dies without ending them."""
    identity = this_process()
    return identity.tags() if identity else {}
