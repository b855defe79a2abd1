"""Atomic writes and digests: an interrupted stage never leaves an output that looks complete."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
SCRATCH = Path(".dvc") / "tmp" / "atomic"  # git and DVC ignore .dvc/tmp; one filesystem with the outputs
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[a-z0-9_]+\.tmp$")  # see _work_folder
_cleaned: set[Path] = set()  # temporary homes already rid of dead processes' leftovers in this process


def dvc_root(start: Path) -> Path | None:
    """The DVC project holding ``start`` (the nearest folder up with ``.dvc/``), if any."""
    start = Path(os.path.abspath(start))
    return next((folder for folder in (start, *start.parents) if (folder / ".dvc").is_dir()), None)


def temporary_home(parent: Path) -> Path:
    """Where temporaries for outputs in ``parent`` are made: the DVC project's scratch folder.

    A temporary beside its output lies inside a DVC-tracked folder (``reports/train/<variant>/``), where a
    SIGKILL leaves it for DVC to hash as part of the output or of a later stage's dependency. The scratch
    is on the outputs' filesystem (else ``parent`` itself), so the final rename stays atomic. Outside a
    DVC project the temporary goes beside the output, hidden. Leftovers of dead processes are removed the
    first time a home is used in a process.
    """
    root = dvc_root(parent)
    home = parent
    if root is not None:
        scratch = root / SCRATCH
        scratch.mkdir(parents=True, exist_ok=True)
        if scratch.stat().st_dev == parent.stat().st_dev:
            home = scratch
    if home not in _cleaned:
        _remove_stale(home)
        _cleaned.add(home)
    return home


def remove_stale_temporaries(start: Path) -> None:
    """Remove what killed processes left in the scratch folder of the DVC project holding ``start``.

    Stages call this as they start (``cli.run_stage``), so a SIGKILL's leftovers last only until the next
    stage. Temporaries of live processes (a concurrent stage) are kept.
    """
    root = dvc_root(start)
    if root is not None and (root / SCRATCH).is_dir():
        _remove_stale(root / SCRATCH)


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_stale(home: Path) -> None:
    """Remove this host's temporaries in ``home`` whose owner process is dead, after undoing a half swap."""
    for entry in home.iterdir():
        match = _TEMPORARY.match(entry.name)
        if not match or match["host"] != _HOST or _owner_alive(int(match["pid"])):
            continue
        _restore_interrupted_swap(entry)
        shutil.rmtree(entry, ignore_errors=True)


def _restore_interrupted_swap(work: Path) -> None:
    """Put an output moved aside by :func:`_swap_by_two_renames` back, if its owner died before the new came."""
    record, old = work / "target", work / "old"
    if not (old.is_dir() and record.is_file()):
        return
    target = Path(record.read_text())
    if not target.exists():
        os.rename(old, target)
        log.warning("restored %s: the process replacing it was killed halfway", target)


@contextmanager
def _work_folder(target: Path) -> Iterator[Path]:
    """A private folder for one replacement of ``target``, removed afterwards whatever happens.

    Its name, ``.<target name>.<host>.<pid>.<random>.tmp``, says whose it is, so a later process can tell a
    dead owner's leftover from a live one's.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.{_HOST}.{os.getpid()}.", suffix=".tmp",
                                 dir=temporary_home(target.parent)))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary file of the same name; it replaces ``target`` (in one rename) only if the block succeeds."""
    target = Path(os.path.abspath(target))
    with _work_folder(target) as work:
        tmp = work / target.name
        tmp.touch()  # the usual permissions (umask), like any new output
        yield tmp
        os.replace(tmp, target)


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; it replaces ``target`` only if the block succeeds.

    At every instant ``target`` is the old folder or the new one: on Linux the two are swapped in one
    ``renameat2(RENAME_EXCHANGE)`` and the old one is then removed with the work folder.
    """
    target = Path(os.path.abspath(target))
    with _work_folder(target) as work:
        new = work / "new"
        new.mkdir()
        yield new
        if not target.exists():
            os.rename(new, target)
        elif not exchange(new, target):
            _swap_by_two_renames(new, target, work)


def _swap_by_two_renames(new: Path, target: Path, work: Path) -> None:
    """Where paths cannot be swapped: move ``target`` aside into ``work``, then ``new`` in.

    A kill between the two renames leaves no ``target``; ``work`` records where the old folder belongs, and
    the next start puts it back (:func:`_restore_interrupted_swap`).
    """
    (work / "target").write_text(str(target))
    os.rename(target, work / "old")
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(work / "old", target)
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


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large files cost no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
