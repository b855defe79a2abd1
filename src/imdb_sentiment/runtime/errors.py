"""Expected failures: stages print these as one line, without a traceback."""

import zipfile
import zlib

# What reading a truncated or damaged .npz (a zip) can raise besides OSError: a bad or cut central directory,
# a bad CRC, a cut deflate stream, an array header that does not parse.
UNREADABLE_ARCHIVE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


class PipelineError(Exception):
    """An expected failure that the user can act on; its message says how."""


class ConfigError(PipelineError):
    """A configuration value is unknown, of the wrong type or out of range."""


class DataError(PipelineError):
    """An input is missing, unreachable, untrusted or inconsistent with the config."""


def unreadable(path: object, exc: BaseException, out: str, stage: str) -> DataError:
    """A stage output that cannot be read back, and both remedies: restore it from DVC's cache, or rebuild it."""
    return DataError(
        f"{path} is corrupt or truncated ({type(exc).__name__}: {first_line(exc)[:150]}); restore it with "
        f"`dvc checkout {out}` or rebuild it with `dvc repro {stage}`"
    )


class OutputError(PipelineError):
    """An output cannot be written: the disk is full, or the path is read-only or not ours."""


class TrackingError(PipelineError):
    """The MLflow tracking store cannot be reached or written."""


class TrainingDiverged(PipelineError):
    """The loss became NaN or infinite; training stopped at once."""


def first_line(exc: BaseException) -> str:
    """An exception in one line for a one-line report: its message's first line, or its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
