"""Environment variables this project sets for the libraries it drives, always second to the user's own.

One rule for every such default (quiet start-up in :mod:`imdb_sentiment.runtime.quiet`, bounded tracking-server
retries in :mod:`imdb_sentiment.tracking.store`): a variable the user set is left as it is.
"""

from __future__ import annotations

import os


def set_unless_set(defaults: dict[str, str]) -> set[str]:
    """Set each variable the environment lacks to its default; return the names that were set here."""
    missing = {name for name in defaults if name not in os.environ}
    for name in missing:
        os.environ[name] = defaults[name]
    return missing
