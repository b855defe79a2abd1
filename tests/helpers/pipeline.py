"""The whole pipeline on the fixture data: a project copy sized for tests, DVC commands, one full `dvc repro`."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from helpers.project import make_project, run, sha256


def point_at_fixture(project: Path, mirror: Path, num_words: int = 30, validation_rows: int = 16) -> None:
    """Edit the copy's Hydra files the way a user would: trust the fixture's digests, shrink the sizes."""
    data_file = project / "conf/data/imdb.yaml"
    data = yaml.safe_load(data_file.read_text())
    data.update(
        npz_sha256=[sha256(mirror / "imdb.npz")],
        word_index_sha256=[sha256(mirror / "imdb_word_index.json")],
        num_words=num_words,
    )
    data_file.write_text(yaml.safe_dump(data))
    features_file = project / "conf/features/multihot.yaml"
    features = yaml.safe_load(features_file.read_text())
    features["validation_rows"] = validation_rows
    features_file.write_text(yaml.safe_dump(features))


def dvc(project: Path, *args: str, env: dict | None = None):
    return run([sys.executable, "-m", "dvc", *args], project, env=env)


def shrink_training(project: Path, variants: list[str]) -> None:
    """Two variants, one seed, a few epochs: the same pipeline, sized for a test."""
    (project / "params.yaml").write_text(yaml.safe_dump({"variants": variants, "features": "multihot"}))
    trainer_file = project / "conf/trainer/default.yaml"
    trainer = yaml.safe_load(trainer_file.read_text())
    trainer.update(seeds=[0, 1], max_epochs=6, eval_batch_size=16, verbose=False)
    trainer_file.write_text(yaml.safe_dump(trainer))
    for variant in variants:
        model_file = project / f"conf/model/{variant}.yaml"
        model_file.write_text(
            model_file.read_text()
            .replace("batch_size: 512", "batch_size: 8")
            .replace("batch_size: 256", "batch_size: 8")
        )


def reproduced_fixture_pipeline(folder: Path, mirror: Path):
    """A project copy sized for tests (2 variants, 2 seeds, 6 epochs), committed, after one `dvc repro`.

    Built once per session by conftest's ``fixture_pipeline`` for the tests that only read it; call it only
    for a project a test changes in ways a copy cannot take (new runs in its MLflow store)."""
    project = make_project(folder / "project")
    point_at_fixture(project, mirror)
    shrink_training(project, ["base_1layer", "l2_3layer"])
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "fixture pipeline"], project)
    env = {"IMDB_MIRROR": str(mirror)}
    return project, env, dvc(project, "repro", env=env)


def visible_files(project: Path) -> dict[str, str]:
    """The sha256 of every file git sees in ``project``, committed or not (ignored ones left out: the DVC
    outputs, MLflow's store, Hydra's logs): the reports, dvc.lock, dvc.yaml, params.yaml, conf/ and code."""
    names = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], project).stdout.splitlines()
    return {name: sha256(project / name) if (project / name).is_file() else "" for name in names}
