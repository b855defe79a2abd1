"""A model served with `mlflow models serve` on 127.0.0.1, and requests to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.project import free_port


@contextmanager
def served(model_uri: str, tracking_uri: str, cwd: Path | None = None) -> Iterator[str]:
    """`mlflow models serve` of a model on 127.0.0.1, stopped by its process group: its invocations URL."""
    port = free_port()
    bin_dir = Path(sys.executable).parent  # the server execs uvicorn from the same environment
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            *"models serve --env-manager local -h 127.0.0.1".split(),
            "-m",
            model_uri,
            "-p",
            str(port),
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/ping", process)
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its uvicorn workers
        process.wait(timeout=30)


def wait_until_serving(ping_url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(ping_url, timeout=2):
                return
        except OSError:
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(1)
    raise AssertionError(f"no answer from {ping_url} within {seconds} s")


def post(url: str, payload) -> tuple[int, dict]:
    """POST ``payload`` (bytes as they are, anything else as JSON): the status and the decoded answer."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
