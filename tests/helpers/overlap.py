"""Evidence that runs ran at the same time: their MLflow start and end times overlap.

Runs one after another can never pass: a run that starts only after another ended does not overlap it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

Interval = tuple[int, int]  # (start, end) in MLflow's milliseconds since the epoch


def overlapping_pairs(intervals: dict[str, Interval]) -> list[tuple[str, str]]:
    """The pairs of named intervals that overlap: each started before the other ended (touching is not)."""
    names = sorted(intervals)
    return [
        (a, b)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if intervals[a][0] < intervals[b][1] and intervals[b][0] < intervals[a][1]
    ]


def run_label(run) -> str:
    return f"{run.info.run_name} ({run.info.run_id[:8]})"


def spans(runs: Iterable, key: Callable = run_label) -> dict[str, Interval]:
    """Per ``key`` of the runs, from the first run's start to the last run's end; by default each run on its
    own. Compare the runs of different workers (a variant's run, or a span per experiment): the runs of one
    process may overlap each other, as a seed's run ends once its artifacts are logged in the background,
    while the next seed trains. A key must not group the runs of workers one after another either: their
    span would cover the runs in between. Only FINISHED runs: another process's end time (a stage that ends
    a dead stage's runs KILLED) says nothing about when the run worked."""
    found: dict[str, Interval] = {}
    for run in runs:
        assert run.info.status == "FINISHED" and run.info.end_time, (
            f"run {run_label(run)} is {run.info.status}, not FINISHED with its own end time"
        )
        name, start, end = key(run), run.info.start_time, run.info.end_time
        found[name] = (min(start, found[name][0]), max(end, found[name][1])) if name in found else (start, end)
    return found


def assert_overlapped(intervals: dict[str, Interval]) -> list[tuple[str, str]]:
    """Assert that at least two of the intervals overlapped in time; return the pairs that did."""
    pairs = overlapping_pairs(intervals)
    assert pairs, "no two of these ran at the same time: " + ", ".join(
        f"{name} {clock(start)}-{clock(end)}" for name, (start, end) in sorted(intervals.items(), key=lambda i: i[1])
    )
    return pairs


def clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S.%f")[:-3]
