"""Property tests of the config schema: every out-of-range value is refused with its key, every valid one taken,
and a wrong type is refused where it is set."""

from __future__ import annotations

import pytest
from helpers.config import from_yaml, yaml_config
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from imdb_sentiment.config.schema import Activation, ConfigError, Loss, Optimizer, Regularizer, validate

bad_model_values = st.one_of(
    st.fixed_dictionaries({"dropout": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0))}),
    st.fixed_dictionaries({"units": st.integers(max_value=0)}),
    st.fixed_dictionaries({"hidden_layers": st.integers(max_value=-1)}),
    st.fixed_dictionaries({"learning_rate": st.floats(max_value=0.0)}),
    st.fixed_dictionaries({"regularization": st.floats(max_value=-1e-9)}),
)


@settings(max_examples=80, deadline=None)
@given(bad_model_values)
def test_any_out_of_range_model_value_is_refused_with_its_key(bad):
    key, value = next(iter(bad.items()))
    cfg = OmegaConf.structured(yaml_config())
    cfg.model[key] = value
    with pytest.raises(ConfigError, match=rf"^model\.{key}="):
        validate(cfg)


@settings(max_examples=80, deadline=None)
@given(
    batch_size=st.integers(-5, 5000),
    patience=st.integers(-5, 50),
    num_words=st.integers(-5, 20000),
    dropout=st.floats(0, 0.999),
    optimizer=st.sampled_from(list(Optimizer)),
    activation=st.sampled_from(list(Activation)),
    loss=st.sampled_from(list(Loss)),
    regularizer=st.sampled_from(list(Regularizer)),
)
def test_config_schema_accepts_exactly_the_valid_region(
    batch_size, patience, num_words, dropout, optimizer, activation, loss, regularizer
):
    cfg = OmegaConf.structured(yaml_config())
    cfg.model = from_yaml(
        "model",
        name="m",
        dropout=dropout,
        optimizer=optimizer,
        activation=activation,
        loss=loss,
        regularizer=regularizer,
    )
    cfg.trainer.batch_size, cfg.trainer.patience, cfg.data.num_words = batch_size, patience, num_words
    valid = batch_size >= 1 and patience >= 0 and num_words > 3
    if valid:
        assert validate(cfg).trainer.batch_size == batch_size
    else:
        with pytest.raises(ConfigError, match=r"(trainer\.batch_size|trainer\.patience|data\.num_words)="):
            validate(cfg)


def test_wrong_types_are_refused_with_the_key():
    cfg = OmegaConf.structured(yaml_config())
    with pytest.raises(Exception, match="trainer.batch_size"):
        cfg.trainer.batch_size = "big"
    with pytest.raises(Exception, match="model.optimizer"):
        cfg.model.optimizer = "adamx"
    with pytest.raises(Exception, match="data.num_wrds"):
        cfg.data.num_wrds = 5
