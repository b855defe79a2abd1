"""Every config group composes, validates, and refuses bad values with the key's name."""

from __future__ import annotations

import dataclasses
import shutil
import typing

import pytest
import yaml
from helpers.config import VARIANTS, compose_config
from helpers.project import CONF_DIR, run_stage
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import MISSING, OmegaConf

from imdb_sentiment.config.schema import (
    Config,
    ConfigError,
    Loss,
    ModelConfig,
    Monitor,
    Optimizer,
    PredictAppConfig,
    SelectionMetric,
    flatten,
    validate,
)


def test_default_config_composes_and_validates():
    cfg = validate(compose_config())
    assert isinstance(cfg, Config)
    assert cfg.data.num_words == 10000 and cfg.data.seed == 113
    assert cfg.features.validation_rows == 10000
    assert cfg.model.name == "base_1layer"


def test_study_variants_are_the_four_of_the_notebook_and_the_linear_yardstick():
    assert sorted(VARIANTS) == ["base_1layer", "l1_3layer", "l2_1layer", "l2_3layer", "linear"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_composes_and_sets_its_trainer_values(variant):
    cfg = validate(compose_config(f"model={variant}"))
    assert cfg.model.name == variant
    expected = {
        "base_1layer": (512, 10, 1, 32),
        "l2_1layer": (256, 10, 1, 64),
        "l1_3layer": (256, 6, 3, 64),
        "l2_3layer": (256, 3, 3, 64),
        "linear": (256, 3, 0, 1),
    }[variant]
    assert (cfg.trainer.batch_size, cfg.trainer.patience, cfg.model.hidden_layers, cfg.model.units) == expected


def test_command_line_overrides_beat_the_variant_file():
    cfg = validate(
        compose_config(
            "model=l2_3layer",
            "trainer.batch_size=512",
            "model.units=128",
            "model.optimizer=rmsprop",
            "model.loss=binary_crossentropy",
        )
    )
    assert cfg.trainer.batch_size == 512 and cfg.model.units == 128
    assert cfg.model.optimizer is Optimizer.rmsprop and cfg.model.loss is Loss.binary_crossentropy


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.num_words=-5", "data.num_words"),
        ("data.num_words=3", "data.num_words"),
        ("model.dropout=1.5", "model.dropout"),
        ("model.dropout=1.0", "model.dropout"),
        ("model.units=0", "model.units"),
        ("trainer.batch_size=0", "trainer.batch_size"),
        ("trainer.patience=-1", "trainer.patience"),
        ("trainer.seeds=[]", "trainer.seeds"),
        ("trainer.steps_per_execution=0", "trainer.steps_per_execution"),
        ("model.learning_rate=-0.1", "model.learning_rate"),
        ("report.published_test_accuracy=86.73", "report.published_test_accuracy"),
        ("report.accuracy_targets.multihot=1.5", "report.accuracy_targets.multihot"),
    ],
)
def test_out_of_range_values_name_the_key_and_what_is_allowed(override, key):
    with pytest.raises(ConfigError, match=rf"{key}=.* is not allowed: "):
        validate(compose_config(override))


@pytest.mark.parametrize(
    "override",
    [
        "model.optimizer=adamx",
        "model.activation=swishy",
        "model.loss=hinge",
        "model.regularizer=l3",
        "features.dtype=float64",
        "trainer.monitor=loss",
        "compare.metric=accuracy",
        "final.train_on=all",
    ],
)
def test_unknown_choices_list_the_allowed_ones(override):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config(override)
    assert "expected one of" in str(info.value.__cause__)
    assert f"full_key: {override.split('=')[0]}" in str(info.value.__cause__)


def test_monitor_and_selection_metric_say_which_way_is_better():
    assert Monitor.val_accuracy.maximized and not Monitor.val_loss.maximized
    assert SelectionMetric.best_val_accuracy.maximized and not SelectionMetric.best_val_loss.maximized
    assert validate(compose_config()).trainer.monitor is Monitor.val_loss


@pytest.mark.parametrize("override", ["data.num_wrds=5", "model.unitz=3", "trainer.batch_size=big"])
def test_misspelt_keys_and_wrong_types_fail_at_composition(override):
    with pytest.raises(ConfigCompositionException):
        compose_config(override)


def test_flatten_gives_dotted_keys_with_plain_values():
    flat = flatten(validate(compose_config("model=l2_3layer")))
    assert flat["model.units"] == 64 and flat["model.optimizer"] == "adam"
    assert flat["trainer.batch_size"] == 256 and flat["data.num_words"] == 10000


def test_stage_refuses_a_bad_value_in_one_line_before_any_work(tmp_path, project):
    result = run_stage(project, "fetch", "data.num_words=-5", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: data.num_words=-5 is not allowed: an integer > 3 (ids below index_from are reserved for "
        "padding, start and OOV)"
    ]
    assert "Traceback" not in result.stderr
    assert not (project / "data").exists()


def test_stage_refuses_a_misspelt_key(project):
    result = run_stage(project, "fetch", "data.num_wrds=5", check=False)
    assert result.returncode != 0
    assert "num_wrds" in result.stderr
    assert not (project / "data").exists()


def test_resolved_config_has_no_missing_values():
    cfg = compose_config()
    assert OmegaConf.missing_keys(cfg) == set()


# ------------------------------------------------------------------ one source of truth: values live in conf/

GROUP_OPTIONS = {
    group.name: sorted(path.stem for path in group.glob("*.yaml"))
    for group in sorted(CONF_DIR.iterdir())
    if group.is_dir() and group.name != "hparams_search"
}


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, options in GROUP_OPTIONS.items() for o in options])
def test_every_option_of_every_group_composes_and_validates(group, option):
    cfg = validate(compose_config(f"{group}={option}", f"compare.variants=[{','.join(VARIANTS)}]"))
    assert OmegaConf.missing_keys(OmegaConf.structured(cfg)) == set()


def test_predict_config_composes_and_validates():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = validate(compose(config_name="predict", overrides=["compare.variants=[base_1layer]", "text=good"]))
    assert isinstance(cfg, PredictAppConfig) and cfg.model_uri is None and cfg.max_reviews == 100000


def schema_classes(cls: type = PredictAppConfig) -> list[type]:
    """The root schema and every section dataclass under it."""
    hints = typing.get_type_hints(cls)
    nested = [hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])]
    return [cls, *(c for section in nested for c in schema_classes(section))]


@pytest.mark.parametrize("cls", schema_classes(), ids=lambda cls: cls.__name__)
def test_the_schema_holds_types_and_checks_but_no_values(cls):
    """Every field is MISSING, so a value can only come from conf/ and the two cannot drift apart again."""
    with_values = {
        f.name: f.default
        for f in dataclasses.fields(cls)
        if f.default is not MISSING or f.default_factory is not dataclasses.MISSING
    }
    assert with_values == {}, f"{cls.__name__}: move these values to conf/ YAML"


def test_every_variant_file_sets_every_model_key():
    keys = {f.name for f in dataclasses.fields(ModelConfig)}
    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        assert set(yaml.safe_load(path.read_text())["model"]) == keys, path.name


def test_a_key_no_yaml_file_sets_fails_at_start_up_with_its_name(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    variant = conf / "model" / "l2_1layer.yaml"
    variant.write_text(variant.read_text().replace("  output_activation: sigmoid\n", ""))
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["model=l2_1layer", "compare.variants=[l2_1layer]"])
    with pytest.raises(ConfigError, match=r"^model\.output_activation has no value: set it in its conf/ YAML file"):
        validate(cfg)


def test_stage_refuses_a_missing_value_in_one_line(project):
    variant = project / "conf" / "model" / "base_1layer.yaml"
    variant.write_text(variant.read_text().replace("  units: 32\n", ""))
    result = run_stage(project, "fetch", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: model.units has no value: set it in its conf/ YAML file (the schema holds no defaults)"
    ]
