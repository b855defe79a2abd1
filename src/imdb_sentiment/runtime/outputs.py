"""Atomic writes and digests: an interrupted stage never leaves an output that looks complete.

A new output is made in a temporary (:mod:`imdb_sentiment.runtime.scratch` says where, and cleans up after killed
processes) and put in place in one rename, or for a folder one exchange of the old and the new.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from imdb_sentiment.runtime.errors import DataError, OutputError
from imdb_sentiment.runtime.scratch import SWAP_OLD, SWAP_RECORD, work_folder
from imdb_sentiment.runtime.signals import raise_if_stopped

_CHUNK = 1 << 20
DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}  # EDQUOT: not on Windows
NOT_WRITABLE = DISK_FULL | {errno.EACCES, errno.EPERM, errno.EROFS}


@contextmanager
def unwritable_as_output_error(target: Path, codes: set[int]) -> Iterator[None]:
    """An ``OSError`` with one of ``codes`` as a one-line :class:`OutputError` naming the path and the remedy."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in codes:
            raise
        path = exc.filename or target
        remedy = "free some space" if exc.errno in DISK_FULL else "make it writable"
        raise OutputError(
            f"cannot write {path}: {exc.strerror} ({remedy} and rerun); {target} was left as it was"
        ) from exc


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary file of the same name; it replaces ``target`` (in one rename) only if the block succeeds,
    and no signal came (:mod:`imdb_sentiment.runtime.signals`)."""
    target = Path(os.path.abspath(target))
    with unwritable_as_output_error(target, NOT_WRITABLE), work_folder(target) as work:
        tmp = work / target.name
        tmp.touch()  # the usual permissions (umask), like any new output
        yield tmp
        raise_if_stopped()
        os.replace(tmp, target)


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; it replaces ``target`` only if the block succeeds and no signal came.

    At every instant ``target`` is the old folder or the new one: on Linux the two are swapped in one
    ``renameat2(RENAME_EXCHANGE)`` and the old one is then removed with the work folder. A full disk while the
    block writes is reported as such; other errors of the block are its own.
    """
    target = Path(os.path.abspath(target))
    with ExitStack() as stack:
        with unwritable_as_output_error(target, NOT_WRITABLE):
            work = stack.enter_context(work_folder(target))
            new = work / "new"
            new.mkdir()
        with unwritable_as_output_error(target, DISK_FULL):
            yield new
        raise_if_stopped()
        with unwritable_as_output_error(target, NOT_WRITABLE):
            if not target.exists():
                os.rename(new, target)
            elif not exchange(new, target):
                _swap_by_two_renames(new, target, work)


def _swap_by_two_renames(new: Path, target: Path, work: Path) -> None:
    """Where paths cannot be swapped: move ``target`` aside into ``work``, then ``new`` in.

    A kill between the two renames leaves no ``target``; ``work`` records where the old folder belongs, and
    the next start puts it back (``scratch._restore_interrupted_swap``).
    """
    (work / SWAP_RECORD).write_text(str(target))
    os.rename(target, work / SWAP_OLD)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(work / SWAP_OLD, target)
        raise


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_EXCHANGE_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}  # by the kernel or the filesystem


@cache
def _renameat2():
    """glibc's ``renameat2``, or None off Linux or with a C library without it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step; False where the system cannot (then nothing was changed)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _EXCHANGE_UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, obj: Any) -> None:
    """Write pretty JSON atomically (DVC metrics and reports are read by people too)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_png(figure: Any, path: Path, dpi: int = 100) -> None:
    """A matplotlib figure as a PNG whose bytes depend on what it draws only: without the ``Software`` text
    chunk matplotlib writes by default (its version), so a rerun that changes no number leaves git clean."""
    figure.savefig(path, dpi=dpi, metadata={"Software": None})


def read_json(path: Path, stage: str) -> Any:
    """A stage's JSON output read back; missing or unreadable, a one-line error naming the stage to rerun."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise DataError(f"{path} is missing: run the {stage} stage (dvc repro {stage})") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} cannot be read ({exc}): rerun the {stage} stage (dvc repro {stage})") from exc


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large files cost no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
