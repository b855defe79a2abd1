"""Where an output's temporaries are made, and the clean-up of those a killed process left behind.

Kept apart from the atomic replacement itself (:mod:`imdb_sentiment.runtime.outputs`): this is the bookkeeping that
makes a SIGKILL harmless, the temporaries' home in the DVC project's scratch folder, names that say which
process owns them, and their removal (undoing a half-done swap first) once that process is gone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imdb_sentiment.runtime.processes import is_alive

log = logging.getLogger(__name__)

SCRATCH = Path(".dvc") / "tmp" / "atomic"  # git and DVC ignore .dvc/tmp; one filesystem with the outputs
SWAP_RECORD, SWAP_OLD = "target", "old"  # in a work folder: where a moved-aside output belongs; the output
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[a-z0-9_]+\.tmp$")  # see work_folder
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


def _remove_stale(home: Path) -> None:
    """Remove this host's temporaries in ``home`` whose owner process is dead, after undoing a half swap."""
    for entry in home.iterdir():
        match = _TEMPORARY.match(entry.name)
        if not match or match["host"] != _HOST or is_alive(int(match["pid"])):
            continue
        _restore_interrupted_swap(entry)
        shutil.rmtree(entry, ignore_errors=True)


def _restore_interrupted_swap(work: Path) -> None:
    """Put an output moved aside by ``outputs._swap_by_two_renames`` back, if its owner died before the new came."""
    record, old = work / SWAP_RECORD, work / SWAP_OLD
    if not (old.is_dir() and record.is_file()):
        return
    target = Path(record.read_text())
    if not target.exists():
        os.rename(old, target)
        log.warning("restored %s: the process replacing it was killed halfway", target)


@contextmanager
def work_folder(target: Path) -> Iterator[Path]:
    """A private folder for one replacement of ``target``, removed afterwards whatever happens.

    Its name, ``.<target name>.<host>.<pid>.<random>.tmp``, says whose it is, so a later process can tell a
    dead owner's leftover from a live one's.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(
        tempfile.mkdtemp(
            prefix=f".{target.name}.{_HOST}.{os.getpid()}.", suffix=".tmp", dir=temporary_home(target.parent)
        )
    )
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
