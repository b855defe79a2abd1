"""The predict command's input: the reviews of ``text=`` or ``file=`` (``file=-``: standard input), with their
line numbers, checked.

Refused with a clear message before any model is loaded: no review, both or neither of text and file, a file
that is not UTF-8 text, too many reviews or too long a review (``predict.max_reviews``,
``predict.max_review_chars``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from imdb_sentiment.runtime.errors import DataError

log = logging.getLogger(__name__)

Review = tuple[int, str]  # (line number in the input, 1 for text=; the review)


def file_lines(content: str) -> list[str]:
    """The file's lines, ended at "\\n" only (one "\\r" before it is dropped).

    ``str.splitlines`` would also break at U+0085, U+2028, form feed, \\x1c… which real reviews contain,
    and so score one review as two and shift every later row against the input. The file's final newline
    does not open another line.
    """
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def numbered_reviews(lines: list[str], file: str) -> list[Review]:
    """The non-blank lines with their line numbers; blank ones are skipped and reported once."""
    reviews, blank = [], []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            reviews.append((number, line))
        else:
            blank.append(number)
    if not reviews:
        raise DataError(f"file={file} has no review: every line is blank; give one review per line")
    if blank:
        shown = ", ".join(map(str, blank[:5])) + (", ..." if len(blank) > 5 else "")
        log.warning("file=%s: skipped blank lines: %d (lines %s)", file, len(blank), shown)
    return reviews


def check_regular_file(path: Path, file: str) -> None:
    """A file of reviews, or a message for what ``file=`` names instead: nothing, a folder, a device, an empty file."""
    if path.is_dir():
        raise DataError(f"file={file} is a folder; give a text file with one review per line")
    if not path.exists():
        raise DataError(f"file={file}: no such file")
    if not path.is_file():
        raise DataError(f"file={file} is not a regular file (a device, pipe or socket); give a text file")
    if path.stat().st_size == 0:
        raise DataError(f"file={file} is empty; give one review per line")


STDIN = "-"


def read_up_to(stream, limit: int, chunk: int = 1 << 20) -> bytes:
    """At most ``limit`` bytes of ``stream``, a chunk at a time (``read(limit)`` would allocate all of it first)."""
    parts, size = [], 0
    while size < limit and (part := stream.read(min(chunk, limit - size))):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def read_bytes(file: str, limit: int) -> bytes:
    """The bytes of ``file`` (``-``: standard input, read up to ``limit`` + 1 bytes); the size is checked before a
    file is read, so a huge one is refused without being loaded."""
    too_large = f"file={file} is larger than predict.max_reviews x predict.max_review_chars"
    if file == STDIN:
        content = read_up_to(sys.stdin.buffer, limit + 1)
        if not content:
            raise DataError("file=- (standard input) is empty; pipe one review per line into it")
        if len(content) > limit:
            raise DataError(too_large)
        return content
    path = Path(file)
    check_regular_file(path, file)
    if path.stat().st_size > limit:
        raise DataError(too_large)
    return path.read_bytes()


def read_file_reviews(file: str, max_reviews: int, max_chars: int) -> list[Review]:
    """file='s reviews, one a line."""
    raw = read_bytes(file, max_reviews * (max_chars + 1))
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"file={file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    reviews = numbered_reviews(file_lines(content), file)
    if len(reviews) > max_reviews:
        raise DataError(f"file={file} has {len(reviews)} reviews; predict.max_reviews is {max_reviews}")
    return reviews


def read_reviews(text: str | None, file: str | None, max_reviews: int, max_chars: int) -> list[Review]:
    """The reviews to score with their line numbers, refused with a clear message when there is none, the
    input is not text, or too large."""
    if (text is None) == (file is None):
        raise DataError('give exactly one of text="..." or file=path/to/reviews.txt')
    if text is not None:
        if not str(text).strip():
            raise DataError("text is empty: give a review to score")
        reviews = [(1, str(text))]
    else:
        reviews = read_file_reviews(file, max_reviews, max_chars)
    for number, review in reviews:
        if len(review) > max_chars:
            where = "text" if text is not None else f"line {number} of {file}"
            raise DataError(f"{where} has {len(review)} characters; predict.max_review_chars is {max_chars}")
    return reviews
