"""Helpers around the config schema: its range-check error, turning a composed config into checked objects,
flattening it for MLflow, and the ``${dvc_param:...}`` resolver."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, MissingMandatoryValue, OmegaConf

from imdb_sentiment.runtime.errors import ConfigError


def require(key: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise a ConfigError that names the key, the value and what is allowed (the schema's range checks)."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def at_least(key: str, value: int, minimum: int) -> None:
    """The most common check: an integer no smaller than ``minimum``."""
    require(key, value, value >= minimum, f"an integer >= {minimum}")


def dvc_param(key: str) -> Any:
    """``${dvc_param:variants}``: a value from DVC's params.yaml, so the variant list lives in one place."""
    path = Path("params.yaml")
    if not path.is_file():
        raise ConfigError(f"params.yaml not found in {Path.cwd()}: run stages from the project root")
    return yaml.safe_load(path.read_text())[key]


def validate(cfg: DictConfig) -> Any:
    """Resolve interpolations and run every range check; raise ConfigError naming the bad key.

    A key no YAML file sets (``???``) fails here too: OmegaConf's message names it."""
    try:
        return OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except MissingMandatoryValue as exc:
        raise ConfigError(
            f"{exc.full_key} has no value: set it in its conf/ YAML file (the schema holds no defaults)"
        ) from exc
    except Exception as exc:  # OmegaConf's own validation errors carry the full key already
        raise ConfigError(str(exc).splitlines()[0]) from exc


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a validated config into dotted keys (``model.units``) for MLflow params."""
    if is_dataclass(obj):
        items = ((f.name, getattr(obj, f.name)) for f in fields(obj))
    elif isinstance(obj, dict):
        items = obj.items()
    else:
        return {prefix: obj.value if isinstance(obj, Enum) else obj}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out
