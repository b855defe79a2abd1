"""Configs as conf/ composes them: the study's variants, a composed config, and config objects for unit tests."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir

from helpers.project import CONF_DIR
from imdb_sentiment.config.schema import Config, validate

VARIANTS = yaml.safe_load((CONF_DIR.parent / "params.yaml").read_text())["variants"]  # the study's, in dvc.yaml


def compose_config(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def compose_sweep(*overrides: str, conf_dir: Path = CONF_DIR):
    """The sweep's config (conf/sweep.yaml), composed and validated."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return validate(compose(config_name="sweep", overrides=list(overrides)))


@functools.cache
def yaml_config() -> Config:
    """The default config as conf/ composes it (model: base_1layer), validated; the variant list is given, so
    it does not depend on the working directory's params.yaml."""
    return validate(compose_config(f"compare.variants=[{','.join(VARIANTS)}]"))


def from_yaml(section: str, **changes):
    """One section of :func:`yaml_config` with ``changes``: how tests build a config object, since the schema
    holds no values. Derived values (``paths.final_models`` from ``paths.models_dir``) do not follow a change."""
    return dataclasses.replace(getattr(yaml_config(), section), **changes)
