"""``--predict REV``: scoring one review, REV against HEAD, alternately in one run, on the registry's models.

Three figures per side: a whole ``stages/predict.py`` process (wall time and peak RSS: what a user waits for),
the scoring alone in a warm process (encode + forward pass), and ``mlflow models serve`` from start to its
first answer. Both sides read the same MLflow store (``MLFLOW_TRACKING_URI``, else this tree's ``mlflow.db``):
HEAD scores the champion text model, REV the version that ``--before-alias`` names (one its code logged).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from .harness import ROOT, Table, new_results, run_child, time_commands, worktrees, write_results

PREDICT_RESULTS = ROOT / "benchmarks" / "predict.json"

REVIEW = "A wonderful, moving film with a brilliant cast and a story that stays with you."
ROUNDS = 3


def store_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlflow.db'}")


def predict_command(alias: str) -> list[str]:
    return [sys.executable, "stages/predict.py", f"'text={REVIEW}'", f"final.alias={alias}"]


def child_scoring(alias: str) -> dict:
    """The scoring alone: the text model loaded once, then one review scored ``ROUNDS`` times."""
    import mlflow

    mlflow.set_tracking_uri(store_uri())
    model = mlflow.pyfunc.load_model(f"models:/imdb-sentiment-text@{alias}")
    model.predict([REVIEW])  # the first call builds what later ones reuse
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        model.predict([REVIEW])
        times.append(time.perf_counter() - started)
    return {"seconds": statistics.median(times), "tensorflow_imported": "tensorflow" in sys.modules}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answered(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps({"inputs": [REVIEW]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def child_serving(alias: str) -> dict:
    """``mlflow models serve`` on 127.0.0.1 from start to its first answer, and the memory of all its processes
    then (the CLI, uvicorn and its worker: ru_maxrss would miss the ones it does not wait for); stopped by its
    process group."""
    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow_cli), "models", "serve", "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store_uri(),
        "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ['PATH']}",
    }
    started = time.perf_counter()
    server = subprocess.Popen(
        [*command, "-m", f"models:/imdb-sentiment-text@{alias}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not answered(port):
            if server.poll() is not None or time.perf_counter() - started > 180:
                raise RuntimeError(f"the model server of @{alias} did not answer")
            time.sleep(0.1)
        ready = time.perf_counter() - started
        processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
        memory = sum(process.memory_info().rss for process in processes) / 2**20
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return {"seconds": ready, "rss_mb_when_ready": memory}


def measure(before_rev: str, before_alias: str) -> dict:
    """Each figure ``ROUNDS`` times, the sides alternating; the medians."""
    env_uri = {"MLFLOW_TRACKING_URI": store_uri()}
    os.environ.update(env_uri)
    runs: dict[str, dict[str, list[dict]]] = {"before": {}, "after": {}}
    with worktrees({"before": before_rev}) as trees:
        sides = {"before": (trees["before"], before_alias), "after": (ROOT, "champion")}
        for _ in range(ROUNDS):
            for side, (tree, alias) in sides.items():
                figures = runs[side]
                figures.setdefault("process", []).append(time_commands(predict_command(alias), tree=tree))
                figures.setdefault("scoring", []).append(run_child("scoring", alias))
                figures.setdefault("serving", []).append(run_child("serving", alias))
    return {side: {name: median_of(values) for name, values in figures.items()} for side, figures in runs.items()}


def median_of(values: list[dict]) -> dict:
    return {
        key: statistics.median(v[key] for v in values) if not isinstance(values[0][key], bool) else values[0][key]
        for key in values[0]
    }


def compare(before_rev: str, before_alias: str) -> None:
    """Measure both sides, write benchmarks/predict.json and print the table."""
    results = measure(before_rev, before_alias)
    write_results(PREDICT_RESULTS, {**new_results(), "predict": results})
    print(predict_table(before_rev, results).render())


def predict_table(before_rev: str, results: dict) -> Table:
    b, a = results["before"], results["after"]
    table = Table((44, 10, 10, 13), (f"predict: before {before_rev} / after HEAD", "before", "after", "after/before"))
    rows = (
        ("one review, whole predict process", "process", "seconds", " s"),
        ("one review, whole process: peak RSS", "process", "largest_process_rss_mb", "MB"),
        ("scoring alone (warm: encode + forward)", "scoring", "seconds", " s"),
        ("model server: start to first answer", "serving", "seconds", " s"),
        ("model server: RSS of its processes, ready", "serving", "rss_mb_when_ready", "MB"),
    )
    for label, group, key, unit in rows:
        before, after = b[group][key], a[group][key]
        table.row(label, f"{before:.3f}{unit:>2}", f"{after:.3f}{unit:>2}", f"{after / before:.3f}x")
    table.line(
        f"TensorFlow imported to score: before {b['scoring']['tensorflow_imported']}, "
        f"after {a['scoring']['tensorflow_imported']}"
    )
    return table
