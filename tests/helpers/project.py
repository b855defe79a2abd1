"""The project under test and throw-away copies of it: paths, commands, the generated dataset, stage runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
CONF_DIR = ROOT / "conf"
REAL_MIRROR = Path(os.environ.get("IMDB_REAL_MIRROR", ROOT.parent / "shared" / "data" / "imdb"))
# reports/timings.json: the benchmarks' figures, a plain input of the report stage (no stage writes it)
PROJECT_FILES = ("conf", "stages", "src", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", "reports/timings.json")

FIXTURE_VOCAB = 60  # raw word ranks 1..60; with num_words=30 many map to OOV
# The learnable signal: every review holds 2-4 words of its label's set (ranks that stay in a 30-word vocabulary)
# among noise words drawn from the other ranks, so a trained model must reach a high validation accuracy.
SIGNAL_WORDS = {1: (5, 6, 7, 8), 0: (9, 10, 11, 12)}
NOISE_WORDS = tuple(rank for rank in range(1, FIXTURE_VOCAB + 1) if rank not in SIGNAL_WORDS[0] + SIGNAL_WORDS[1])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_keras_imdb(folder: Path, rows: int = 48, seed: int = 7) -> Path:
    """Write imdb.npz (object arrays of raw-rank lists, like Keras's) and a matching word index.

    Labels are balanced and learnable (see SIGNAL_WORDS), so a test can tell a model that learns from one
    that does not.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(n) % 2)
        reviews = np.empty(n, dtype=object)
        for i, label in enumerate(labels):
            words = [
                *rng.choice(NOISE_WORDS, size=int(rng.integers(3, 36))),
                *rng.choice(SIGNAL_WORDS[int(label)], size=int(rng.integers(2, 5))),
            ]
            reviews[i] = [int(w) for w in rng.permutation(words)]
        return reviews, labels.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = split(rows), split(rows)
    np.savez(folder / "imdb.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    words = {f"w{rank}": rank for rank in range(1, FIXTURE_VOCAB + 1)}
    (folder / "imdb_word_index.json").write_text(json.dumps(words))
    return folder


def fixture_overrides(
    mirror: Path,
    num_words: int = 30,
    validation_rows: int = 16,
    bigrams: int = 0,
    nb_alpha: float | None = None,
    trigrams: int = 0,
) -> list[str]:
    """Hydra overrides that point the pipeline at a fixture mirror and trust its digests (and, if ``bigrams``,
    add that many bigram columns; with ``nb_alpha``, scale them by their naive-Bayes ratios)."""
    return [
        f"data.mirror={mirror}",
        f"data.npz_sha256=[{sha256(mirror / 'imdb.npz')}]",
        f"data.word_index_sha256=[{sha256(mirror / 'imdb_word_index.json')}]",
        f"data.num_words={num_words}",
        f"features.validation_rows={validation_rows}",
        *([f"features.bigrams={bigrams}"] if bigrams else []),
        *([f"features.trigrams={trigrams}"] if trigrams else []),
        *(["features.nb_scaling=true", f"features.nb_alpha={nb_alpha}"] if nb_alpha is not None else []),
    ]


def make_project(dest: Path) -> Path:
    """A copy of the project's pipeline files in a fresh git + DVC repository at ``dest``."""
    dest.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, dest / name)
    run(["git", "init", "-q"], dest)
    run(["git", "config", "user.email", "tests@example.invalid"], dest)
    run(["git", "config", "user.name", "tests"], dest)
    run([sys.executable, "-m", "dvc", "init", "-q"], dest)
    run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "fixture project"], dest)
    return dest


def copy_project(source: Path, dest: Path) -> Path:
    """A copy of a project folder made by the helpers here (git, DVC's cache and the outputs with it), for a test
    that changes what a shared fixture built. Not for a project whose MLflow store a test writes to: its
    ``mlflow.db`` names the original's ``mlruns/`` as the artifact location, so new runs would log there."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server to start, or to be refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def vectorized_project(dest: Path, mirror: Path, **fixture_settings) -> tuple[Path, list[str]]:
    """A project copy with the fixture data fetched and vectorized, and the overrides that point at it."""
    project = make_project(dest)
    overrides = fixture_overrides(mirror, **fixture_settings)
    run_stage(project, "fetch", *overrides)
    run_stage(project, "vectorize", *overrides)
    return project, overrides


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run a command with the test interpreter's bin folder first on PATH (DVC stages call `python`)."""
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_stage(
    project: Path, stage: str, *overrides: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    return run([sys.executable, f"stages/{stage}.py", *overrides], project, check=check, env=env)
