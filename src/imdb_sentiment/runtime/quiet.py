"""Library start-up chatter that a stage's user cannot act on, off unless the user asks for it.

TensorFlow 2.21 writes its oneDNN and CPU-feature banners (each behind an absl "before InitializeLog" line, twice:
two of its libraries log on import) straight to file descriptor 2 during ``import tensorflow``, whatever
``TF_CPP_MIN_LOG_LEVEL`` says. :func:`import_tensorflow` drops exactly those lines and passes every other line
on. A user who sets ``TF_CPP_MIN_LOG_LEVEL`` gets TensorFlow's own behaviour, banners included.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from types import ModuleType

from imdb_sentiment.runtime.env_defaults import set_unless_set

QUIET_BY_DEFAULT = {"TF_CPP_MIN_LOG_LEVEL": "2", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
TENSORFLOW_BANNER = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    rb"|I\d{4} [\d:.]+ +\d+ (port|cpu_feature_guard)\.cc:\d+\] "
    rb"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
)


# The variables set here rather than by the user: child processes (a stage under a test or a sweep) inherit them,
# and must still tell them from the user's own.
DEFAULTED = "IMDB_SENTIMENT_QUIET_DEFAULTS"


def set_quiet_defaults() -> None:
    defaulted = {name for name in os.environ.get(DEFAULTED, "").split(",") if name}
    defaulted |= set_unless_set(QUIET_BY_DEFAULT)
    if defaulted:
        os.environ[DEFAULTED] = ",".join(sorted(defaulted))


def set_by_user(name: str) -> bool:
    return name in os.environ and name not in os.environ.get(DEFAULTED, "").split(",")


def without_banners(stderr: bytes) -> bytes:
    return b"".join(line for line in stderr.splitlines(keepends=True) if not TENSORFLOW_BANNER.match(line))


def import_tensorflow() -> ModuleType:
    """``import tensorflow`` with its start-up banners dropped from stderr (see the module docstring)."""
    if "tensorflow" in sys.modules or set_by_user("TF_CPP_MIN_LOG_LEVEL"):
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            os.write(2, without_banners(captured.read()))
    return tensorflow


def import_keras(backend: str) -> None:
    """``import keras`` on ``backend`` unless ``KERAS_BACKEND`` says otherwise (or Keras is loaded already),
    TensorFlow's start-up banners dropped when it is the one that loads."""
    os.environ.setdefault("KERAS_BACKEND", backend)
    if "keras" not in sys.modules:
        if os.environ["KERAS_BACKEND"] == "tensorflow":
            import_tensorflow()
        elif "tensorflow" not in sys.modules:
            sys.meta_path.insert(0, WithoutTensorFlow())
    import keras  # noqa: F401


class WithoutTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import tensorflow`` fail in this process, as if it were not installed.

    Keras 3.15 imports TensorFlow whenever it is installed, whatever the backend (``serialization_lib`` on every
    ``model.save``; ``keras.utils.set_random_seed``): ~650 MB of RSS for nothing in a process that trains with
    PyTorch and saves Keras models. Keras and MLflow both treat an ImportError as "not installed". The switch
    back to plain behaviour is ``KERAS_BACKEND=tensorflow``.
    """

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(name, self)  # no origin: torch's trace rules skip it
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError("TensorFlow is not loaded in this process (KERAS_BACKEND=torch)", name=spec.name)

    def exec_module(self, module):  # never reached: create_module raised
        raise ModuleNotFoundError(module.__name__)
