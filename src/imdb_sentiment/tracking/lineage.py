"""Lineage: the tags that tie a run to the commit and the DVC experiment that produced it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT


def git_commit(folder: Path) -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def source_commit() -> str | None:
    """The commit the stage's code comes from.

    A DVC experiment ran from its baseline rev (``DVC_EXP_BASELINE_REV``, set by DVC for every ``dvc exp
    run``); otherwise the HEAD of the stage's own working folder. Never ``DVC_ROOT``'s: for ``dvc exp run
    --queue`` that is the user's repository, whose HEAD may have moved on since the experiment was queued.
    """
    return os.environ.get("DVC_EXP_BASELINE_REV") or git_commit(Path.cwd())


def lineage_tags(stage: str, variant: str | None = None) -> dict[str, str]:
    """Tags that tie a run to the code and the DVC experiment that produced it.

    ``mlflow.source.git.commit`` is set to the same commit, so the two never disagree: MLflow's own reads
    the entry script's repository (right in a queued experiment's copy, checked by a test), and a run
    created through ``MlflowClient`` (the sweep's) gets none.
    """
    tags = {"stage": stage}
    if variant:
        tags["variant"] = variant
    commit = source_commit()
    if commit:
        tags["git_commit"] = tags[MLFLOW_GIT_COMMIT] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        tags["dvc_exp_baseline_rev"] = os.environ["DVC_EXP_BASELINE_REV"]
    return tags
