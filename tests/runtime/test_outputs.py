"""Atomic replacement: the old or the new output exists at every instant, a failed write keeps the old one, and
temporaries stay out of outputs."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imdb_sentiment.runtime import outputs, scratch
from imdb_sentiment.runtime.errors import OutputError
from imdb_sentiment.runtime.outputs import atomic_dir, atomic_path, write_json

SRC = Path(outputs.__file__).resolve().parents[1]


@pytest.fixture
def dvc_project(tmp_path) -> Path:
    """A folder DVC would take as a project: it has ``.dvc/``."""
    (tmp_path / ".dvc").mkdir()
    return tmp_path


def entries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def replace_folder(target: Path, version: int, files: int = 30) -> None:
    with outputs.atomic_dir(target) as folder:
        for index in range(files):
            (folder / f"part_{index}.bin").write_bytes(b"x" * 1000)
        (folder / "marker").write_text(str(version))


# Another process polling the marker as fast as it can, as a reader beside a running stage would (a thread in
# this process would share the GIL with the writer and see far fewer instants; it also took minutes).
WATCHER = """
import os, sys
marker, ready, stop = sys.argv[1:]
missing = polls = 0
while not os.path.exists(stop):
    missing += not os.path.exists(marker)
    polls += 1
    if polls == 1:
        open(ready, "w").close()
print(missing, polls)
"""


def test_a_replaced_folder_is_never_missing(dvc_project, tmp_path_factory):
    """A watcher process polling the folder's marker through 200 replacements always finds it."""
    target, signals = dvc_project / "models" / "variant", tmp_path_factory.mktemp("watcher")
    replace_folder(target, 0)
    ready, stop = signals / "ready", signals / "stop"
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER, str(target / "marker"), str(ready), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        while not ready.exists() and watcher.poll() is None:
            time.sleep(0.01)
        for version in range(1, 201):
            replace_folder(target, version)
    finally:
        stop.touch()
        out, _ = watcher.communicate(timeout=60)
    missing, polls = map(int, out.split())
    assert missing == 0, f"the folder was missing in {missing} of {polls} polls"
    assert polls > 1000  # it watched all along: about 20 polls a replacement at the least
    assert (target / "marker").read_text() == "200"
    assert entries(target.parent) == ["variant"] and entries(dvc_project / scratch.SCRATCH) == []


def test_temporaries_live_in_the_dvc_scratch_not_beside_the_output(dvc_project):
    target = dvc_project / "reports" / "train" / "v"
    with outputs.atomic_dir(target / "history") as folder, outputs.atomic_path(target / "metrics.json") as tmp:
        assert folder.is_relative_to(dvc_project / scratch.SCRATCH) and tmp.is_relative_to(
            dvc_project / scratch.SCRATCH
        )
        assert tmp.name == "metrics.json"  # keeps the suffix a writer may insist on (.keras, .npz)
        assert entries(target) == []
        (folder / "seed_0.csv").write_text("epoch\n1\n")
        tmp.write_text("{}")
    assert entries(target) == ["history", "metrics.json"]
    assert entries(dvc_project / scratch.SCRATCH) == []


def test_without_a_dvc_project_temporaries_are_hidden_beside_the_output(tmp_path):
    with outputs.atomic_path(tmp_path / "out.txt") as tmp:
        assert tmp.parent.parent == tmp_path and tmp.parent.name.startswith(".out.txt.")
        tmp.write_text("new")
    assert entries(tmp_path) == ["out.txt"]


def killed_inside(code: str, cwd: Path) -> None:
    """Run ``code`` in a fresh interpreter that SIGKILLs itself where the code says ``die()``."""
    prelude = (
        "import os, signal\nfrom pathlib import Path\nfrom imdb_sentiment.runtime import outputs\n"
        "def die():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=60,
    )
    assert result.returncode == -9, result.stderr


def test_temporaries_of_a_killed_process_are_removed_at_the_next_start(dvc_project):
    killed_inside(
        "with outputs.atomic_dir(Path('models/v')) as d, outputs.atomic_path(Path('reports/m.json')) as f:\n"
        "    (d / 'seed_0.keras').write_text('half'); f.write_text('half'); die()\n",
        dvc_project,
    )
    folder = dvc_project / scratch.SCRATCH
    assert len(entries(folder)) == 2
    assert entries(dvc_project / "models") == [] and entries(dvc_project / "reports") == []
    with outputs.atomic_path(dvc_project / "reports" / "mine.json") as tmp:  # a live process's temporary is kept
        scratch.remove_stale_temporaries(dvc_project)
        assert entries(folder) == [tmp.parent.name]
        tmp.write_text("{}")
    assert entries(folder) == []


def test_a_kill_between_the_fallback_renames_is_recovered_at_the_next_start(dvc_project, monkeypatch):
    """Where the kernel cannot swap two paths, the old folder is moved aside first: a kill before the new one
    is moved in leaves no folder, and the next start puts the old one back."""
    replace_folder(dvc_project / "models" / "v", 1)
    killed_inside(
        "outputs.exchange = lambda first, second: False\n"
        "real_rename = os.rename\n"
        "def rename(source, destination):\n"
        "    if Path(source).name == 'new':\n"
        "        die()\n"
        "    real_rename(source, destination)\n"
        "os.rename = rename\n"
        "with outputs.atomic_dir(Path('models/v')) as d:\n"
        "    (d / 'marker').write_text('2')\n",
        dvc_project,
    )
    assert not (dvc_project / "models" / "v").exists()
    scratch.remove_stale_temporaries(dvc_project)
    assert (dvc_project / "models" / "v" / "marker").read_text() == "1"
    assert entries(dvc_project / scratch.SCRATCH) == []
    monkeypatch.setattr(outputs, "exchange", lambda first, second: False)
    replace_folder(dvc_project / "models" / "v", 3)  # the fallback itself replaces as it should
    assert (dvc_project / "models" / "v" / "marker").read_text() == "3"
    assert entries(dvc_project / scratch.SCRATCH) == []


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for a folder): temporaries anywhere show up too."""
    return {str(path.relative_to(root)): None if path.is_dir() else path.read_bytes() for path in root.rglob("*")}


@pytest.mark.parametrize("in_dvc_project", [True, False], ids=["dvc-project", "plain-folder"])
def test_failed_write_keeps_the_previous_output(tmp_path, in_dvc_project):
    """A write that fails halfway (disk full) leaves the existing file and folder as they were, and no temporary."""
    if in_dvc_project:
        (tmp_path / ".dvc").mkdir()
    metrics, models = tmp_path / "reports" / "metrics.json", tmp_path / "models" / "variant"
    write_json(metrics, {"good": 1})
    with atomic_dir(models) as folder:
        (folder / "seed_0.keras").write_text("good")
    before = snapshot(tmp_path)
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OutputError, match=rf"^cannot write {metrics}: No space left on device \(free some space"):
        with atomic_path(metrics) as tmp, open(tmp, "w") as handle:
            handle.write('{"half": ')
            handle.flush()
            raise disk_full
    with pytest.raises(OutputError, match=rf"^cannot write {models}: No space .* {models} was left as it was$"):
        with atomic_dir(models) as folder:
            (folder / "seed_0.keras").write_text("half")
            (folder / "seed_1.keras").write_text("")
            raise disk_full
    assert snapshot(tmp_path) == before


def test_a_png_holds_what_it_draws_and_no_matplotlib_version(tmp_path):
    """Committed figures: the same drawing gives the same bytes, whichever matplotlib wrote them."""
    from matplotlib.figure import Figure

    from imdb_sentiment.runtime.outputs import write_png

    def drawn(path: Path) -> bytes:
        figure = Figure(figsize=(2, 2))
        figure.subplots().plot([1, 2, 3], [0.3, 0.2, 0.25])
        write_png(figure, path)
        return path.read_bytes()

    first, second = drawn(tmp_path / "a.png"), drawn(tmp_path / "b.png")
    assert first == second and first.startswith(b"\x89PNG")
    assert b"Software" not in first and b"Matplotlib" not in first and b"tIME" not in first
