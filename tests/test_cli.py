"""Free review text on the command line reaches the config unchanged."""

from __future__ import annotations

import string

from hydra import compose, initialize_config_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CONF_DIR
from imdb_sentiment.cli import quote_free_text


def composed_text(value: str) -> str:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="predict", overrides=quote_free_text([f"text={value}"], ("text",))).text


def test_punctuation_quotes_and_interpolations_survive():
    for value in ["A wonderful, moving film", "It's \"great\" [really] ${x} a\\b c:d=e", "end\\", "don't\\'s",
                  "{a: 1}", "x=y,z"]:
        assert composed_text(value) == value


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.printable.replace("\r", "").replace("\x0b", "").replace("\x0c", "")
               .replace("\n", ""), min_size=1, max_size=40))
def test_any_printable_text_round_trips(value):
    assert composed_text(value) == value


def test_values_already_quoted_for_hydra_and_other_keys_are_left_alone():
    assert quote_free_text(["text='a, b'", "file=x.txt", "trainer.seeds=[0,1]"], ("text",)) == \
        ["text='a, b'", "file=x.txt", "trainer.seeds=[0,1]"]
