"""Benchmark: the size of a tree, in lines of the library, the stage scripts and the tests.

Every subpackage counts: since the library became one package per concern, a count of the top folder alone
would miss nearly all of it. The patterns match the old flat layout too, so ``--against`` compares like with like.
"""

from __future__ import annotations

from pathlib import Path

PARTS = {"library": "src/imdb_sentiment/**/*.py", "stages": "stages/*.py", "tests": "tests/**/*.py"}


def lines(tree: Path, pattern: str) -> int:
    return sum(len(path.read_text().splitlines()) for path in tree.glob(pattern))


def count(tree: Path) -> dict[str, int]:
    """Lines in the library, the stage scripts and the tests of ``tree``."""
    return {part: lines(tree, pattern) for part, pattern in PARTS.items()}
