"""The register stage: register the final run's Keras and raw-text models, then move ``@champion`` on merit.

The final stage logs both models in its run and records their URIs in ``run.json``; this stage registers
them, describes the new versions, and moves ``final.alias`` of both registered models to them only if their
test accuracy is at least the current holder's (:func:`promote`), the text model following the Keras one.
Its own package, so that editing the registry rule reruns registration and nothing before it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from imdb_sentiment.config.schema import Config, FinalConfig
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.runtime.outputs import read_json, write_json
from imdb_sentiment.tracking.store import setup_tracking

log = logging.getLogger(__name__)


def version_description(variant: str, accuracy: float, run_id: str, wraps: str | None = None) -> str:
    """A registered model version's description: the variant, its test accuracy, the run that made it."""
    what = f"Raw-review-text model around {wraps}: " if wraps else ""
    return f"{what}{variant} retrained by run {run_id}; test accuracy {accuracy:.4f} on the test reviews."


def describe_versions(
    cfg: FinalConfig, variant: str, keras_version: str, text_version: str, accuracy: float, run_id: str
) -> None:
    """Give both new versions a description: the variant, its test accuracy and the run that made them."""
    client = MlflowClient()
    keras = version_description(variant, accuracy, run_id)
    client.update_model_version(cfg.registered_model_name, keras_version, description=keras)
    wraps = f"{cfg.registered_model_name} version {keras_version}"
    text = version_description(variant, accuracy, run_id, wraps=wraps)
    client.update_model_version(cfg.text_model_name, text_version, description=text)


def promote(client: MlflowClient, name: str, version: str, accuracy: float, alias: str) -> tuple[bool, str]:
    """Move ``alias`` to ``version`` only if its test accuracy is at least the current holder's."""
    client.set_model_version_tag(name, version, "test_accuracy", f"{accuracy:.6f}")
    try:
        current = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        current = None
    if current is not None and current.version == str(version):
        return True, f"{name} version {version} already holds @{alias}"
    current_accuracy = float(current.tags.get("test_accuracy", "nan")) if current is not None else float("nan")
    if current is None or np.isnan(current_accuracy) or accuracy >= current_accuracy:
        client.set_registered_model_alias(name, alias, version)
        before = "" if current is None else f" (was version {current.version}, test accuracy {current_accuracy:.4f})"
        return True, f"moved @{alias} of {name} to version {version}, test accuracy {accuracy:.4f}{before}"
    return False, (
        f"kept @{alias} of {name} on version {current.version} (test accuracy {current_accuracy:.4f}); "
        f"version {version} scored {accuracy:.4f}"
    )


def promote_final(cfg: FinalConfig, keras_version: str, text_version: str, accuracy: float) -> tuple[bool, str]:
    """:func:`promote` the Keras model; the text model that wraps it follows, so both aliases name one model."""
    client = MlflowClient()
    promoted, message = promote(client, cfg.registered_model_name, keras_version, accuracy, cfg.alias)
    if promoted:
        client.set_model_version_tag(cfg.text_model_name, text_version, "test_accuracy", f"{accuracy:.6f}")
        client.set_registered_model_alias(cfg.text_model_name, cfg.alias, text_version)
    return promoted, message


def read_final(final_reports: Path) -> tuple[dict, float]:
    """The final stage's ``run.json`` (the run and its logged models) and its test accuracy."""
    run = read_json(final_reports / "run.json", "final")
    return run, float(read_json(final_reports / "metrics.json", "final")["test_accuracy"])


def register_version(uri: str, name: str, run_id: str) -> str:
    """Register a logged model (``models:/<model id>``) under ``name``; its new version."""
    try:
        return mlflow.register_model(uri, name, tags={"run_id": run_id}).version
    except MlflowException as exc:
        raise DataError(
            f"cannot register {uri} as {name}: {exc.message.splitlines()[0]} (is this the MLflow store the final "
            "stage logged to? rerun it with dvc repro --force final)"
        ) from exc


def register_final(cfg: Config) -> dict:
    """The register stage: both versions registered and described, the alias moved on merit, and what was
    done written to ``paths.registry_record``."""
    run, accuracy = read_final(Path(cfg.paths.final_reports))
    setup_tracking(cfg.tracking)
    keras_version = register_version(run["keras_model_uri"], cfg.final.registered_model_name, run["run_id"])
    text_version = register_version(run["text_model_uri"], cfg.final.text_model_name, run["run_id"])
    describe_versions(cfg.final, run["variant"], keras_version, text_version, accuracy, run["run_id"])
    promoted, message = promote_final(cfg.final, keras_version, text_version, accuracy)
    log.info(message)
    MlflowClient().set_tag(run["run_id"], "registry", message)
    record = {
        "registered_version": keras_version,
        "text_version": text_version,
        "promoted": promoted,
        "registry": message,
    }
    write_json(Path(cfg.paths.registry_record), record)
    return record
