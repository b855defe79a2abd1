"""Ctrl-C and SIGTERM in a stage: raised at once, and remembered so that no code can swallow them.

Python raises a signal's exception wherever the main thread happens to be, and a library that catches broad
exceptions there (or a native call that returns normally after it) can lose it: the stage would then carry on
and write its outputs as complete. So the handler also records the signal, and every point that commits
something (an output renamed into place, a run ended FINISHED, an alias moved, each training batch) calls
:func:`raise_if_stopped` first. Home-made because the standard library has only the handler half of this.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so runs end KILLED and temporary outputs are removed on the way out."""


_received: list[int] = []  # the signals that arrived, in order
_deferring: list[bool] = []  # inside deferred(): record only, raise at its end


def stopped() -> int | None:
    """The first signal that asked this process to stop, if any."""
    return _received[0] if _received else None


def interruption(signum: int) -> KeyboardInterrupt:
    if signum == signal.SIGTERM:
        return Terminated(f"received signal {signal.Signals(signum).name}")
    return KeyboardInterrupt()


def raise_if_stopped() -> None:
    """Raise the interruption again if a signal arrived (whatever became of the first raise)."""
    if _received:
        raise interruption(_received[0])


def _handle(signum, frame) -> None:
    _received.append(signum)
    if not _deferring:
        raise interruption(signum)


def install() -> None:
    """Handle SIGTERM and Ctrl-C from here on (Ctrl-C only where it is not ignored, as a background job's is)."""
    signal.signal(signal.SIGTERM, _handle)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _handle)


@contextmanager
def deferred() -> Iterator[None]:
    """A block that a signal does not cut in two (e.g. moving two aliases): it is recorded, and raised once the
    block has run; the block itself can ask :func:`stopped` and undo its work instead."""
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
    raise_if_stopped()


def forget() -> None:
    """Clear what was recorded (tests that send signals to their own process)."""
    _received.clear()
