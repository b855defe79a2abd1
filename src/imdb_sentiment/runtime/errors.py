"""Expected failures: stages print these as one line, without a traceback."""


class PipelineError(Exception):
    """An expected failure that the user can act on; its message says how."""


class ConfigError(PipelineError):
    """A configuration value is unknown, of the wrong type or out of range."""


class DataError(PipelineError):
    """An input is missing, unreachable, untrusted or inconsistent with the config."""


class TrackingError(PipelineError):
    """The MLflow tracking store cannot be reached or written."""


class TrainingDiverged(PipelineError):
    """The loss became NaN or infinite; training stopped at once."""


def first_line(exc: BaseException) -> str:
    """An exception in one line for a one-line report: its message's first line, or its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
