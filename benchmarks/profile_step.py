"""``--profile``: where a training epoch of ours goes, op by op, from TensorFlow's profiler.

One seed of each variant trains ``WARM`` epochs (tracing, caches), then ``PROFILED`` epochs under
``tf.profiler``; the trace's op events are summed per op type and reported per epoch, beside the epoch's wall
time (the profiler slows it). Training ops run on two threads at once, so their sum can exceed the wall time;
what the wall time holds beyond them is the executor's per-op and per-step overhead.
"""

from __future__ import annotations

import collections
import tempfile
import time
from pathlib import Path

from .harness import NUM_WORDS, PROCESSED, ROOT, Table, new_results, run_child, write_results

WARM, PROFILED = 2, 3
PROFILE_RESULTS = ROOT / "benchmarks" / "profile.json"


def op_times(logdir: Path) -> tuple[dict[str, float], dict[str, float], int]:
    """Seconds per op type summed over the trace's op events: the training step's (TensorFlow's compute
    threads) and the input pipeline's (tf.data's threads), and how many op events the step ran."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = Path(logdir).rglob("*.xplane.pb")
    space = xplane_pb2.XSpace.FromString(path.read_bytes())
    step: collections.Counter[str] = collections.Counter()
    data: collections.Counter[str] = collections.Counter()
    events = 0
    for plane in (plane for plane in space.planes if plane.name == "/host:CPU"):
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            totals = step if line.name.startswith("tf_Compute") else data if line.name.startswith("tf_data") else None
            if totals is None:
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name and "::" not in name:  # an op event, "scope/name:Type"; not a runtime region
                    totals[name.rpartition(":")[2]] += event.duration_ps / 1e12
                    events += totals is step
    return dict(step), dict(data), events


def child(variant: str) -> dict:
    """Train one seed of ``variant``; profile ``PROFILED`` epochs after ``WARM``; return per-op seconds/epoch."""
    from dataclasses import replace

    import tensorflow as tf

    from imdb_sentiment.data.features import load_features
    from imdb_sentiment.model.batches import CsrRows
    from imdb_sentiment.model.training import SeedTrainer

    from .train_epoch import VALIDATION_ROWS, config

    cfg = config("ours", variant)
    features = load_features(PROCESSED, NUM_WORDS, VALIDATION_ROWS, splits=("train",))
    train, validation = (CsrRows.from_csr(x, y) for x, y in (features.partial_train, features.validation))

    trainer = SeedTrainer(cfg.model, replace(cfg.trainer, patience=99), train, validation)
    trainer.fit(0, epochs=WARM)
    with tempfile.TemporaryDirectory() as logdir:
        started = time.perf_counter()
        tf.profiler.experimental.start(logdir)
        trainer.fit(0, epochs=PROFILED)
        tf.profiler.experimental.stop()
        wall = (time.perf_counter() - started) / PROFILED
        step, data, events = op_times(Path(logdir))
    steps = -(-train.rows // cfg.trainer.batch_size)

    def per_epoch(totals: dict[str, float]) -> dict[str, float]:
        return {op: seconds / PROFILED for op, seconds in sorted(totals.items(), key=lambda kv: -kv[1])}

    return {
        "variant": variant,
        "epoch_seconds": wall,
        "steps": steps,
        "ops_per_step": events / PROFILED / steps,
        "per_epoch": per_epoch(step),
        "input_pipeline_per_epoch": per_epoch(data),
    }


def run(variants: list[str], top: int = 15) -> list[dict]:
    results = [run_child("profile", variant) for variant in variants]
    for result in results:
        table = Table((34, 11, 8), ("op type", "ms/epoch", "share"))
        op_total = sum(result["per_epoch"].values())
        for op, seconds in list(result["per_epoch"].items())[:top]:
            table.row(op, f"{seconds * 1000:.1f}", f"{seconds / op_total:.0%}")
        data_total = sum(result["input_pipeline_per_epoch"].values())
        print(
            f"\n{result['variant']}: {result['epoch_seconds']:.3f} s/epoch under the profiler, {result['steps']} "
            f"steps (and the validation pass), {result['ops_per_step']:.0f} op events a step; op time "
            f"{op_total:.3f} s/epoch in training and validation, {data_total:.3f} s in the input pipeline"
        )
        print(table.render())
    write_results(PROFILE_RESULTS, {**new_results(), "profiles": results})
    return results
