"""The register stage: register the final run's Keras and raw-text models, then move ``@champion`` on merit.

The final stage logs both models in its run and records their URIs beside the model (``models/final/runs.json``,
:mod:`imdb_sentiment.tracking.records`); this stage registers
them, describes the new versions, and moves ``final.alias`` of both registered models to them only if their
test accuracy is at least the current holder's (:func:`promote`), the text model following the Keras one.
Its own package, so that editing the registry rule reruns registration and nothing before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from imdb_sentiment.config.schema import Config, FinalConfig
from imdb_sentiment.runtime import signals
from imdb_sentiment.runtime.errors import DataError, PipelineError, TrackingError, first_line
from imdb_sentiment.runtime.outputs import read_json, write_json
from imdb_sentiment.tracking.records import read_final_runs
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


def holder(client: MlflowClient, name: str, alias: str):
    """The version that holds ``alias`` of ``name``, or None."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def decide(client: MlflowClient, name: str, version: str, accuracy: float, alias: str) -> tuple[bool, str]:
    """Whether ``version`` takes ``alias``: only if its test accuracy is at least the current holder's."""
    client.set_model_version_tag(name, version, "test_accuracy", f"{accuracy:.6f}")
    current = holder(client, name, alias)
    if current is not None and current.version == str(version):
        return True, f"{name} version {version} already holds @{alias}"
    current_accuracy = float(current.tags.get("test_accuracy", "nan")) if current is not None else float("nan")
    if current is None or np.isnan(current_accuracy) or accuracy >= current_accuracy:
        before = "" if current is None else f" (was version {current.version}, test accuracy {current_accuracy:.4f})"
        return True, f"moved @{alias} of {name} to version {version}, test accuracy {accuracy:.4f}{before}"
    return False, (
        f"kept @{alias} of {name} on version {current.version} (test accuracy {current_accuracy:.4f}); "
        f"version {version} scored {accuracy:.4f}"
    )


def move_together(client: MlflowClient, alias: str, versions: dict[str, str], commit: Callable[[], None]) -> None:
    """Move ``alias`` of each registered model to its version, then ``commit()`` (the record of it): all or
    nothing. An error or a signal on the way puts every moved alias back where it was, then is raised."""
    before = {name: getattr(holder(client, name, alias), "version", None) for name in versions}
    moved: list[str] = []
    with signals.deferred():  # a signal is recorded, not raised mid-call: the loop sees it and undoes
        try:
            for name, version in versions.items():
                signals.raise_if_stopped()
                client.set_registered_model_alias(name, alias, version)
                moved.append(name)
            commit()  # checks for a signal too, before it writes
        except BaseException:
            put_back(client, alias, before, moved)
            raise


def put_back(client: MlflowClient, alias: str, before: dict[str, str | None], moved: list[str]) -> None:
    for name in reversed(moved):
        try:
            if before[name] is None:
                client.delete_registered_model_alias(name, alias)
            else:
                client.set_registered_model_alias(name, alias, before[name])
        except Exception as exc:  # the store failing is likely why we are here: say what is left to fix
            log.error("@%s of %s could not be put back on version %s: %s", alias, name, before[name], exc)


def promote(client: MlflowClient, name: str, version: str, accuracy: float, alias: str) -> tuple[bool, str]:
    """Move ``alias`` to ``version`` only if its test accuracy is at least the current holder's."""
    promoted, message = decide(client, name, version, accuracy, alias)
    if promoted:
        move_together(client, alias, {name: version}, lambda: None)
    return promoted, message


def promote_final(
    cfg: FinalConfig, keras_version: str, text_version: str, accuracy: float, commit: Callable[[bool, str], None]
) -> tuple[bool, str]:
    """Decide on the Keras model's merit; if it wins, both aliases move to it and the text model around it,
    together, then ``commit(promoted, message)`` records it. Either all of that happens or none of it."""
    client = MlflowClient()
    client.set_model_version_tag(cfg.text_model_name, text_version, "test_accuracy", f"{accuracy:.6f}")
    promoted, message = decide(client, cfg.registered_model_name, keras_version, accuracy, cfg.alias)
    versions = {cfg.registered_model_name: keras_version, cfg.text_model_name: text_version} if promoted else {}
    move_together(client, cfg.alias, versions, lambda: commit(promoted, message))
    return promoted, message


def read_final(cfg: Config) -> tuple[dict, float]:
    """The final stage's run and logged models in this store, its variant, and its test accuracy."""
    reports = Path(cfg.paths.final_reports)
    run = {**read_json(reports / "run.json", "final"), **read_final_runs(Path(cfg.paths.final_models))}
    return run, float(read_json(reports / "metrics.json", "final")["test_accuracy"])


def register_version(uri: str, name: str, run_id: str) -> str:
    """Register a logged model (``models:/<model id>``) under ``name``; its new version."""
    try:
        return mlflow.register_model(uri, name, tags={"run_id": run_id}).version
    except MlflowException as exc:
        raise DataError(
            f"cannot register {uri} as {name}: {exc.message.splitlines()[0]} (is this the MLflow store the final "
            "stage logged to? rerun it with dvc repro --force final)"
        ) from exc


def left_as_it_was(cfg: Config, registered: list[str]) -> str:
    """What a registration stopped before its commit did: the versions it registered (they carry no alias)."""
    versions = f"registered {' and '.join(registered)}, but " if registered else "registered nothing; "
    return f"{versions}@{cfg.final.alias} was left where it was and {cfg.paths.registry_record} was not written"


def register_final(cfg: Config) -> dict:
    """The register stage: both versions registered and described, the alias moved on merit, and what was
    done written to ``paths.registry_record``. Stopped or failing, it says exactly what it did."""
    run, accuracy = read_final(cfg)
    setup_tracking(cfg.tracking)
    final, record, registered = cfg.final, {}, []

    def commit(promoted: bool, message: str) -> None:
        record.update(promoted=promoted, registry=message)
        write_json(Path(cfg.paths.registry_record), record)

    try:
        for key, uri, name in (
            ("registered_version", run["keras_model_uri"], final.registered_model_name),
            ("text_version", run["text_model_uri"], final.text_model_name),
        ):
            record[key] = register_version(uri, name, run["run_id"])
            registered.append(f"{name} version {record[key]}")
        keras_version, text_version = record["registered_version"], record["text_version"]
        describe_versions(final, run["variant"], keras_version, text_version, accuracy, run["run_id"])
        _, message = promote_final(final, keras_version, text_version, accuracy, commit)
    except KeyboardInterrupt as exc:
        done = "registry" in record  # the signal came once all was committed
        exc.outcome = f"registration was complete: {record['registry']}" if done else left_as_it_was(cfg, registered)  # type: ignore[attr-defined]
        raise
    except (PipelineError, MlflowException) as exc:
        raise TrackingError(f"{first_line(exc)}; {left_as_it_was(cfg, registered)}") from exc
    log.info(message)
    MlflowClient().set_tag(run["run_id"], "registry", message)
    return record
