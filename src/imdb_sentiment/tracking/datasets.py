"""Each run's dataset input: the vectorized features (or their test split), named by width and content digest.

MLflow's stores look a dataset up by (experiment, name, digest), then insert it if missing. Two processes
logging the same new dataset at once (the first trainings or sweep workers on a fresh store) both insert it,
and the later insert fails on that unique key (CI saw it with two sweep workers). The store rolls the whole
call back, so :func:`once_more_if_raced` tries it again, and the second try finds the dataset the other logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow import MlflowClient
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from imdb_sentiment.tracking.runs import note_logged

if TYPE_CHECKING:
    from imdb_sentiment.config.schema import Config

MLFLOW_DIGEST_CHARS = 32  # MLflow stores dataset digests in a 36-character column
# The unique-key failure as SQLite, PostgreSQL, MySQL and a tracking server (which forwards the text) word it.
LOST_INSERT_RACE = re.compile(r"IntegrityError|UniqueViolation|unique constraint|Duplicate entry", re.IGNORECASE)


def once_more_if_raced(log: Callable[[], object]) -> None:
    """Log the dataset input; if another process inserted the same dataset meanwhile, log it again."""
    try:
        log()
    except Exception as exc:  # MlflowException (embedded store) or RestException (server) with the SQL error's text
        if not LOST_INSERT_RACE.search(str(exc)):
            raise
        log()


def log_features_input(
    digest: str,
    processed_dir: Path,
    rows: dict[str, int],
    columns: int,
    context: str,
    run_id: str | None = None,
    split: str | None = None,
) -> MetaDataset:
    """Record the vectorized data (one ``split`` of it, if given) as the run's dataset input; its digest is the
    data's content hash. Returns the dataset, for metrics computed on it (``mlflow.log_metrics(dataset=...)``)."""
    dataset = MetaDataset(
        source=LocalArtifactDatasetSource(str(processed_dir.resolve())),
        name=f"imdb-multihot-{columns}" + (f"-{split}" if split else ""),
        digest=digest[:MLFLOW_DIGEST_CHARS],
    )
    tags = {"sha256": digest, "rows": str(rows), "columns": str(columns)}
    if run_id is None:
        once_more_if_raced(lambda: mlflow.log_input(dataset, context=context, tags=tags))
    else:  # what mlflow.log_input logs, to a run that is not this thread's active one
        input_tags = [InputTag(key, value) for key, value in {**tags, MLFLOW_DATASET_CONTEXT: context}.items()]
        inputs = [DatasetInput(Dataset(**dataset.to_dict()), input_tags)]
        once_more_if_raced(lambda: MlflowClient().log_inputs(run_id, datasets=inputs))
    note_logged("the dataset input")
    return dataset


def log_test_dataset(cfg: Config, manifest) -> MetaDataset:
    """The test split alone, as the active run's dataset input in context ``testing`` (digest: the split's own)."""
    return log_features_input(
        manifest.split_digests["test"],
        Path(cfg.paths.processed_dir),
        {"test": manifest.rows["test"]},
        manifest.width,
        "testing",
        split="test",
    )


def log_dataset(cfg: Config, manifest, context: str, run_id: str | None = None) -> None:
    """The configured features, described by their ``features.Manifest``, as the run's dataset input in ``context``.

    The manifest is not imported here: that would put the feature code in the closure of every stage that logs."""
    log_features_input(manifest.digest, Path(cfg.paths.processed_dir), manifest.rows, manifest.width, context, run_id)
