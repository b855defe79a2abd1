"""``--profile VARIANT``: where a training epoch of ours goes, op by op, from TensorFlow's profiler.

One seed of the variant trains ``WARM`` epochs (tracing, caches), then ``PROFILED`` epochs under
``tf.profiler``; the trace's op events (the executor's, on every thread) are summed per op type and reported
per epoch, beside the epoch's wall time. Ops run on two threads at once, so the sum can exceed the wall time;
the share that is not op time is the executor's and Python's per-step overhead.
"""

from __future__ import annotations

import collections
import tempfile
import time
from pathlib import Path

from .harness import PROCESSED, ROOT, Table, new_results, run_child, write_results

WARM, PROFILED = 2, 3
PROFILE_RESULTS = ROOT / "benchmarks" / "profile.json"


def op_times(logdir: Path) -> tuple[dict[str, float], int]:
    """Seconds per op type summed over the trace's TensorFlow op events, and how many op events there were."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = Path(logdir).rglob("*.xplane.pb")
    space = xplane_pb2.XSpace.FromString(path.read_bytes())
    totals: collections.Counter[str] = collections.Counter()
    events = 0
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        stats = {key: meta.name for key, meta in plane.stat_metadata.items()}
        for line in plane.lines:
            if line.name.startswith(("python", "TraceMe")):
                continue
            for event in line.events:
                kind = op_type(names.get(event.metadata_id, ""), event, stats)
                if kind:
                    totals[kind] += event.duration_ps / 1e12
                    events += 1
    return dict(totals), events


def op_type(name: str, event, stats: dict[int, str]) -> str | None:
    """The op type of a TensorFlow op event (``name:Type`` in the executor's names), else None."""
    for stat in event.stats:
        if stats.get(stat.metadata_id) == "tf_op" and stat.str_value:
            return stat.str_value.rpartition(":")[2]
    if ":" in name and not name.startswith(("Iterator", "$")):
        return name.rpartition(":")[2]
    return None


def child(variant: str) -> dict:
    """Train one seed of ``variant``; profile ``PROFILED`` epochs after ``WARM``; return per-op seconds/epoch."""
    from dataclasses import replace

    import tensorflow as tf

    from imdb_sentiment.data.features import load_features
    from imdb_sentiment.model.batches import CsrRows
    from imdb_sentiment.model.training import SeedTrainer

    from .train_epoch import VALIDATION_ROWS, config

    cfg = config("ours", variant)
    x, y = load_features(PROCESSED, ("train",))["train"]
    train = CsrRows.from_csr(x[VALIDATION_ROWS:], y[VALIDATION_ROWS:])
    validation = CsrRows.from_csr(x[:VALIDATION_ROWS], y[:VALIDATION_ROWS])

    trainer = SeedTrainer(cfg.model, replace(cfg.trainer, patience=99), train, validation)
    trainer.fit(0, epochs=WARM)
    with tempfile.TemporaryDirectory() as logdir:
        started = time.perf_counter()
        tf.profiler.experimental.start(logdir)
        trainer.fit(0, epochs=PROFILED)
        tf.profiler.experimental.stop()
        wall = (time.perf_counter() - started) / PROFILED
        totals, events = op_times(Path(logdir))
    steps = -(-train.rows // cfg.trainer.batch_size)
    return {
        "variant": variant,
        "epoch_seconds": wall,
        "steps": steps,
        "ops_per_step": events / PROFILED / steps,
        "per_epoch": {op: seconds / PROFILED for op, seconds in sorted(totals.items(), key=lambda kv: -kv[1])},
    }


def run(variants: list[str], top: int = 15) -> list[dict]:
    results = [run_child("profile", variant) for variant in variants]
    for result in results:
        table = Table((34, 11, 8), ("op type", "ms/epoch", "share"))
        op_total = sum(result["per_epoch"].values())
        for op, seconds in list(result["per_epoch"].items())[:top]:
            table.row(op, f"{seconds * 1000:.1f}", f"{seconds / op_total:.0%}")
        print(
            f"\n{result['variant']}: {result['epoch_seconds']:.3f} s/epoch under the profiler, {result['steps']} "
            f"steps, {result['ops_per_step']:.0f} op events a step, op time {op_total:.3f} s/epoch (both threads)"
        )
        print(table.render())
    write_results(PROFILE_RESULTS, {**new_results(), "profiles": results})
    return results
