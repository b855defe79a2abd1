"""Fixtures shared by the test folders: the generated dataset, throw-away project copies, the fixture pipeline
built once per session, a PostgreSQL cluster. The helpers they use, and every other shared helper, live in
tests/helpers/; no test module imports this file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from helpers.pipeline import reproduced_fixture_pipeline, visible_files
from helpers.postgres import (
    Postgres,
    close_for_traversal,
    find_postgres_bin_dir,
    postgres_driver_skip_reason,
    postgres_skip_reason,
    start_postgres,
)
from helpers.project import make_keras_imdb, make_project, vectorized_project

import imdb_sentiment.model.fast_path  # noqa: F401  PyTorch's torch._dynamo before TensorFlow (see the module)

for _name, _value in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "GIT_TERMINAL_PROMPT": "0",
}.items():
    os.environ[_name] = _value
os.environ.pop("IMDB_MIRROR", None)
os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)  # stages run with their own quiet default, as for a user
os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(autouse=True)
def tracking_uri_restored():
    """``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI to child processes: restore both after
    each test, so a later test's stages never log into an earlier in-process test's store."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow.set_tracking_uri(before)


@pytest.fixture(autouse=True, scope="module")
def tracking_uri_restored_after_module():
    """The same around a module, for a module-scoped fixture that sets the URI (serve/test_text_model.py's logged
    model): set up before the test above, it is what that test restores. Without this the modules after it (the
    sweep workers' stages) would log into its store."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow.set_tracking_uri(before)


@pytest.fixture(scope="session")
def keras_mirror(tmp_path_factory) -> Path:
    """A mirror folder holding a small generated dataset."""
    return make_keras_imdb(tmp_path_factory.mktemp("mirror"))


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def vectorized_fixture(tmp_path_factory, keras_mirror) -> tuple[Path, list[str]]:
    """A project with the fixture data fetched and vectorized (30 words, 16 validation rows), built once per
    session, and the overrides that point at it. Read it only: a test that writes to it takes a copy
    (helpers.project.copy_project)."""
    return vectorized_project(tmp_path_factory.mktemp("vectorized") / "project", keras_mirror)


@pytest.fixture(scope="session")
def fixture_pipeline(tmp_path_factory, keras_mirror) -> Iterator[tuple[Path, dict, object]]:
    """The fixture project after one full `dvc repro` (helpers.pipeline.reproduced_fixture_pipeline: 2 variants,
    2 seeds, 6 epochs), built once per session: (project, env, the repro's result).

    Read it only. A test that edits the project works on a copy (helpers.project.copy_project); one that logs
    new runs builds its own (a copy's mlflow.db would send their artifacts to this project's mlruns/). That no
    test changed a file git sees here (reports, dvc.lock, dvc.yaml, conf/) is checked at the end of the session.
    """
    built = reproduced_fixture_pipeline(tmp_path_factory.mktemp("pipeline"), keras_mirror)
    before = visible_files(built[0])
    yield built
    assert visible_files(built[0]) == before, "a test changed the shared fixture pipeline: give it a copy"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> Iterator[Postgres]:
    """A PostgreSQL cluster of its own, in a pytest temp folder, stopped at the end of the module."""
    reason = postgres_skip_reason() or postgres_driver_skip_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("postgres")
    opened: set[Path] = set()
    cluster = None
    try:
        cluster = start_postgres(root, find_postgres_bin_dir(), opened)
        yield cluster
    finally:
        try:
            if cluster is not None:
                cluster.stop()
        finally:
            close_for_traversal(opened)
