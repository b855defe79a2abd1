"""``--profile``: where a training epoch of ours goes, op by op, from PyTorch's profiler.

One seed of each variant trains ``WARM`` epochs (caches, allocator), then ``PROFILED`` epochs under
``torch.profiler``; each op's own CPU time is summed per op name and reported per epoch, beside the epoch's
wall time (the profiler slows it). What the wall time holds beyond the ops is Python: the loop's per-step
overhead and cutting each epoch's batches (scipy), reported apart as ``cut_seconds``.
"""

from __future__ import annotations

import time

from .harness import NUM_WORDS, PROCESSED, ROOT, Table, new_results, run_child, write_results

WARM, PROFILED = 2, 3
PROFILE_RESULTS = ROOT / "benchmarks" / "profile.json"


def child(variant: str) -> dict:
    """Train one seed of ``variant``; profile ``PROFILED`` epochs after ``WARM``; return per-op seconds/epoch."""
    from dataclasses import replace

    import numpy as np
    from torch.profiler import ProfilerActivity, profile

    from imdb_sentiment.data.features import load_features
    from imdb_sentiment.model import fast_path
    from imdb_sentiment.model.batches import CsrRows
    from imdb_sentiment.model.training import SeedTrainer

    from .train_epoch import VALIDATION_ROWS, config

    cfg = config("ours", variant)
    features = load_features(PROCESSED, NUM_WORDS, VALIDATION_ROWS, splits=("train",))
    train, validation = (CsrRows.from_csr(x, y) for x, y in (features.partial_train, features.validation))
    trainer = SeedTrainer(cfg.model, replace(cfg.trainer, patience=99), train, validation)
    trainer.fit(0, epochs=WARM)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        started = time.perf_counter()
        trainer.fit(0, epochs=PROFILED)
        wall = (time.perf_counter() - started) / PROFILED
    started = time.perf_counter()
    order = np.random.default_rng(0).permutation(train.rows)
    for _ in range(PROFILED):
        fast_path.batches(train.x, train.y, cfg.trainer.batch_size, order)
    cut = (time.perf_counter() - started) / PROFILED
    steps = -(-train.rows // cfg.trainer.batch_size)
    events = profiler.key_averages()
    ops = {e.key: e.self_cpu_time_total / 1e6 / PROFILED for e in events if e.key.startswith("aten::")}
    calls = sum(e.count for e in events if e.key.startswith("aten::"))
    return {
        "variant": variant,
        "epoch_seconds": wall,
        "cut_seconds": cut,
        "steps": steps,
        "ops_per_step": calls / PROFILED / steps,
        "per_epoch": dict(sorted(ops.items(), key=lambda kv: -kv[1])),
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
            f"steps (and the validation pass), {result['ops_per_step']:.0f} op calls a step; op time "
            f"{op_total:.3f} s/epoch in training and validation, {result['cut_seconds']:.3f} s cutting the batches"
        )
        print(table.render())
    write_results(PROFILE_RESULTS, {**new_results(), "profiles": results})
    return results
