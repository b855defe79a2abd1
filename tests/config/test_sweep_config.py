"""The sweep's search config (conf/sweep.yaml, config/sweep.py) and its start-up checks."""

from __future__ import annotations

import pytest
from helpers.config import compose_sweep

from imdb_sentiment.config.schema import ConfigError
from imdb_sentiment.config.sweep import SearchParam

SEARCHED = {
    "model.hidden_layers",
    "model.units",
    "model.dropout",
    "model.regularization",
    "model.learning_rate",
    "trainer.batch_size",
}


def test_search_config_searches_the_six_settings_with_one_seed_and_a_median_pruner():
    cfg = compose_sweep()
    assert set(cfg.sweep.params) == SEARCHED and cfg.sweep.n_trials == 20 and cfg.trainer.seeds == [0]
    assert cfg.sweep.direction.value == "maximize" and cfg.compare.metric.value == "best_val_accuracy"
    assert cfg.sweep.pruner.value == "median" and cfg.model.name == "l2_3layer"
    assert cfg.sweep.params["model.learning_rate"] == SearchParam(low=1e-4, high=1e-2, log=True)
    assert not cfg.sweep.params["model.dropout"].integer and cfg.sweep.params["trainer.batch_size"].choices


@pytest.mark.parametrize(
    ("key", "param", "message"),
    [
        ("features.validation_rows", SearchParam(choices=[10]), "sweep.params.features.validation_rows"),
        ("model.units", SearchParam(low=64, high=16), r"sweep.params.model.units='low=64 high=16'"),
        ("model.dropout", SearchParam(low=0.0, high=0.5, log=True), "sweep.params.model.dropout.log"),
        ("model.units", SearchParam(choices=[]), "sweep.params.model.units.choices"),
    ],
)
def test_a_bad_search_space_is_refused_at_start_up_naming_the_key(key, param, message):
    with pytest.raises(ConfigError, match=message):
        param.check(key)


def test_the_direction_must_suit_the_metric_trials_return():
    with pytest.raises(ConfigError, match=r"sweep.direction='maximize' is not allowed: minimize \(compare.metric"):
        compose_sweep("compare.metric=best_val_loss")
    assert compose_sweep("compare.metric=best_val_loss", "sweep.direction=minimize").sweep.direction.value
