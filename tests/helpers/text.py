"""Raw review text: a small word index and encoder settings, an untrained model to score with, and the real
mirror's Keras arrays."""

from __future__ import annotations

from helpers.config import from_yaml
from helpers.project import REAL_MIRROR
from imdb_sentiment.data.fetch import load_trusted_npz
from imdb_sentiment.data.text import EncoderSettings

WORDS = {
    "the": 1,
    "and": 2,
    "a": 3,
    "film": 19,
    "this": 11,
    "was": 13,
    "just": 40,
    "brilliant": 527,
    "casting": 970,
    "don't": 89,
    "rare": 2500,
}
SETTINGS = EncoderSettings(num_words=1000, index_from=3, start_char=1, oov_char=2)


def tiny_keras_model(num_words: int):
    """A one-layer sigmoid model on the dense multi-hot input, untrained: enough to score reviews."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((num_words,)), keras.layers.Dense(1, activation="sigmoid")])


def real_keras_arrays() -> dict:
    """The real mirror's imdb.npz arrays (raw word ranks), read as the fetch stage reads them."""
    cfg = from_yaml(
        "data",
        base_url="-",
        npz_sha256=[
            "6814c0beea01878740d178d45caaf84fa878f5f452bd5f6bb6b5e3add8655f32",
            "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
        ],
    )
    return load_trusted_npz(REAL_MIRROR / "imdb.npz", cfg)
