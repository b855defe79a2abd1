"""Side-by-side measurements against the original notebook's method, on the real data.

Each contender runs in its own subprocess, so peak RSS is its own. Results print as a table and go to
benchmarks/results.json. Usage (from the project root, with the data fetched: `dvc repro vectorize`):

    python benchmarks/run.py                      # vectorize (words; + 50k bigrams) + train-epoch benchmarks (ours
                                                  # with fast_path on and off)
    python benchmarks/run.py --pipeline           # also time `dvc repro` and `make run` (trains everything twice)
    python benchmarks/run.py --against REV        # this commit against REV, side by side: epochs, MLflow share,
                                                  # dvc repro, make run, lines of code (each in a fresh worktree)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
SEQUENCES = ROOT / "data" / "interim" / "sequences.npz"
PROCESSED = ROOT / "data" / "processed"
NUM_WORDS, VALIDATION_ROWS, EPOCHS = 10000, 10000, 8
BIGRAMS, FIRST_WORD = 50000, 3  # conf/features/multihot_bigrams.yaml; data.index_from


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def notebook_vectorize_sequences(sequences, dimension=NUM_WORDS):
    """The original notebook's function, verbatim (dense float64, a Python loop)."""
    import numpy as np

    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


def child_vectorize(method: str) -> dict:
    from imdb_sentiment.data.sequences import load_sequences

    splits, num_words = load_sequences(SEQUENCES)
    if method == "notebook":  # the notebook's input: Python lists of ids, as keras.datasets.imdb returns
        lists = [[split.sequences.row(i).tolist() for i in range(split.sequences.rows)] for split in splits.values()]
        started = time.perf_counter()
        matrices = [notebook_vectorize_sequences(rows, num_words) for rows in lists]
    else:  # ours: the vectorize stage's encoding, words only or with the training split's BIGRAMS bigrams
        from imdb_sentiment.data.bigrams import count_vocabulary
        from imdb_sentiment.data.features import feature_splits

        started = time.perf_counter()
        size = BIGRAMS if method == "bigrams" else 0
        vocabulary = count_vocabulary(splits["train"].sequences, num_words, FIRST_WORD, size)
        matrices = feature_splits(splits, num_words, vocabulary, FIRST_WORD, "float32")
    seconds = time.perf_counter() - started
    del matrices
    return {"seconds": seconds}


def epoch_times(timestamps: list[float], started: float) -> list[float]:
    return [b - a for a, b in zip([started, *timestamps[:-1]], timestamps, strict=True)]


def child_train(method: str, variant: str) -> dict:
    """One seed, EPOCHS epochs, no early stopping; per-epoch wall time including validation."""
    from hydra import compose, initialize_config_dir

    from imdb_sentiment.config.schema import validate
    from imdb_sentiment.data.features import load_features

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        fast_path = "false" if method == "stock" else "true"  # stock: trainer.fast_path=false, the same CSR batches
        cfg = validate(
            compose(
                config_name="config",
                overrides=[f"model={variant}", "trainer.verbose=false", f"trainer.fast_path={fast_path}"],
            )
        )
    features = load_features(PROCESSED, NUM_WORDS, VALIDATION_ROWS, splits=("train",))
    (x_train, y_train), (x_val, y_val) = features.partial_train, features.validation
    stamps: list[float] = []
    if method == "notebook":
        import keras

        from imdb_sentiment.model.networks import build_model

        keras.utils.set_random_seed(0)
        model = build_model(cfg.model, NUM_WORDS, sparse=False)  # plain Dense layers, Keras's own optimizer
        model.compile(optimizer=cfg.model.optimizer.value, loss=cfg.model.loss.value, metrics=["accuracy"])
        dense = [m.toarray().astype("float64") for m in (x_train, x_val)]  # the notebook's arrays
        callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter()))
        started = time.perf_counter()
        history = model.fit(
            dense[0],
            y_train.astype("float64"),
            epochs=EPOCHS,
            batch_size=cfg.trainer.batch_size,
            validation_data=(dense[1], y_val.astype("float64")),
            callbacks=[callback],
            verbose=0,
        )
        val_accuracy = history.history["val_accuracy"]
    else:
        from dataclasses import replace

        from imdb_sentiment.model.batches import CsrRows
        from imdb_sentiment.model.training import train_seed

        trainer = replace(cfg.trainer, max_epochs=EPOCHS, patience=EPOCHS)
        train, validation = CsrRows.from_csr(x_train, y_train), CsrRows.from_csr(x_val, y_val)
        started = time.perf_counter()
        result = train_seed(
            cfg.model,
            trainer,
            0,
            train,
            validation,
            on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter()),
        )
        val_accuracy = result.history["val_accuracy"]
    times = epoch_times(stamps, started)
    return {
        "first_epoch_seconds": times[0],
        "median_epoch_seconds": statistics.median(times[1:]),
        "samples_per_second": x_train.shape[0] / statistics.median(times[1:]),
        "best_val_accuracy": max(val_accuracy),
        "final_val_accuracy": val_accuracy[-1],
    }


MLFLOW_CALLS = (
    "start_run",
    "end_run",
    "log_params",
    "log_metrics",
    "log_input",
    "log_figure",
    "log_text",
    "log_artifacts",
    "set_tag",
    "set_tags",
    "get_experiment_by_name",
    "create_experiment",
    "set_experiment",
    "set_tracking_uri",
)
CLIENT_CALLS = (
    "create_run",
    "log_batch",
    "log_param",
    "log_inputs",
    "log_figure",
    "log_text",
    "set_tag",
    "set_terminated",
)


class MlflowTimer:
    """Times MLflow calls (outermost calls only, per thread): the training thread's by name, other threads' in all."""

    def __init__(self) -> None:
        self.spent, self.by_call, self.background = 0.0, {}, 0.0
        self.depth = threading.local()

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self.depth.value = getattr(self.depth, "value", 0) + 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth.value -= 1
                if self.depth.value == 0:
                    elapsed = time.perf_counter() - started
                    if threading.current_thread() is not threading.main_thread():  # off the training thread
                        self.background += elapsed
                    else:
                        self.spent += elapsed
                        self.by_call[fn.__name__] = round(self.by_call.get(fn.__name__, 0.0) + elapsed, 3)

        return wrapper

    def install(self) -> None:
        import mlflow
        import mlflow.models

        from imdb_sentiment.tracking import run_workers

        for name in MLFLOW_CALLS:
            setattr(mlflow, name, self(getattr(mlflow, name)))
        mlflow.models.Model.log = classmethod(self(mlflow.models.Model.log.__func__))
        for name in CLIENT_CALLS:  # the seed runs are written by run id (runs.open_run, the finisher)
            setattr(mlflow.MlflowClient, name, self(getattr(mlflow.MlflowClient, name)))
        # waiting for the last seed's artifacts counts
        run_workers.RunFinisher.close = self(run_workers.RunFinisher.close)


EPOCH_WRITERS = ("thread", "mlflow-async", "mlflow-async-1s")


def mlflow_async_epoch_writer(run_id: str, flush: bool):
    """MLflow's own asynchronous logging, the alternative to ``run_workers.EpochMetricWriter``: each epoch queued
    with ``log_batch(..., synchronous=False)``; at the end (``flush``: after flushing MLflow's queue) every queued
    write is waited for, so a failed one raises before the run ends."""
    from contextlib import contextmanager

    import mlflow
    from mlflow.entities import Metric

    @contextmanager
    def writer():
        client, operations = mlflow.MlflowClient(), []

        def log_epoch(epoch: int, logs: dict[str, float]) -> None:
            stamp = int(time.time() * 1000)
            metrics = [Metric(key, float(value), stamp, epoch) for key, value in logs.items()]
            operations.append(client.log_batch(run_id, metrics=metrics, synchronous=False))

        yield log_epoch
        if flush:
            mlflow.flush_async_logging()
        for operation in operations:
            operation.wait()

    return writer()


def timed_epoch_writer(factory, timings: dict):
    """``factory`` with the training thread's time in each epoch's call and in the writer's close recorded."""
    from contextlib import contextmanager

    @contextmanager
    def writer(run_id: str):
        with factory(run_id) as log_epoch:

            def timed_log_epoch(epoch, logs):
                started = time.perf_counter()
                log_epoch(epoch, logs)
                timings["epoch_calls"].append(time.perf_counter() - started)

            yield timed_log_epoch
            closing = time.perf_counter()
        timings["closes"].append(time.perf_counter() - closing)

    return writer


def child_tracking(variant: str, seeds: str = "", epoch_writer: str = "thread") -> dict:
    """A real train stage (the study's seeds) with every MLflow call timed: the share of wall time logging.

    With ``--tracking-seeds 0`` it is one seed, the worst case: MLflow's one-off costs in a process (reading
    the installed packages' metadata to check the pinned requirements) then fall on one model. ``epoch_writer``
    picks the per-epoch metric writer: the stage's own (``thread``) or MLflow's asynchronous logging, with its
    queue's default polling (``mlflow-async``) or ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1`` and a flush at
    each run's end (``mlflow-async-1s``; the variable takes whole seconds only).
    """
    import functools
    import tempfile

    if epoch_writer == "mlflow-async-1s":
        os.environ["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = "1"
    timer = MlflowTimer()
    timer.install()
    from hydra import compose, initialize_config_dir

    from imdb_sentiment.config.schema import validate
    from imdb_sentiment.train import variants as variant_training
    from imdb_sentiment.train.variants import train_variant

    writer_timings: dict = {"epoch_calls": [], "closes": []}
    factory = (
        variant_training.epoch_metric_writer
        if epoch_writer == "thread"
        else functools.partial(mlflow_async_epoch_writer, flush=epoch_writer == "mlflow-async-1s")
    )
    variant_training.epoch_metric_writer = timed_epoch_writer(factory, writer_timings)
    scratch = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    overrides = [
        f"model={variant}",
        *([f"trainer.seeds=[{seeds}]"] if seeds else []),
        "trainer.verbose=false",
        f"tracking.uri=sqlite:///{scratch / 'mlflow.db'}",
        f"paths.models_dir={scratch / 'models'}",
        f"paths.reports_dir={scratch / 'reports'}",
        f"paths.processed_dir={PROCESSED}",
    ]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=overrides))
    from imdb_sentiment.tracking.store import setup_tracking

    setup_tracking(cfg.tracking)  # create the store first: in a project it exists after the first stage
    timer.spent, timer.by_call = 0.0, {}
    started = time.perf_counter()
    metrics = train_variant(cfg)
    total = time.perf_counter() - started
    return {
        "seeds": metrics["seeds"],
        "total_seconds": total,
        "mlflow_seconds": timer.spent,
        "mlflow_share": timer.spent / total,
        "fit_seconds": metrics["train_seconds"],
        "mlflow_seconds_by_call": timer.by_call,
        "background_mlflow_seconds": timer.background,
        "epoch_writer": epoch_writer,
        **epoch_writer_figures(cfg, writer_timings),
    }


def epoch_writer_figures(cfg, timings: dict) -> dict:
    """The per-epoch writer's time on the training thread, after checking every epoch reached the store."""
    import mlflow

    client = mlflow.MlflowClient(cfg.tracking.uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment_name)
    seed_runs = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("level") == "seed"]
    epochs = sum(int(r.data.metrics["epochs_run"]) for r in seed_runs)
    assert (
        epochs
        == sum(len(client.get_metric_history(r.info.run_id, "val_loss")) for r in seed_runs)
        == len(timings["epoch_calls"])
    ), "an epoch's metrics are missing"
    calls, closes = timings["epoch_calls"], timings["closes"]
    return {
        "epochs": epochs,
        "epoch_call_ms_median": 1000 * statistics.median(calls),
        "epoch_call_ms_max": 1000 * max(calls),
        "epoch_writer_close_ms": [round(1000 * c, 1) for c in closes],
        "epoch_writer_training_thread_seconds": sum(calls) + sum(closes),
    }


def tree_env(tree: Path) -> dict[str, str]:
    """The environment for a contender from ``tree``: its own ``src`` first, telemetry and banners off."""
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
    }
    if tree != ROOT:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree / "src"), os.environ.get("PYTHONPATH")]))
    return env


def run_child(*args: str, tree: Path = ROOT) -> dict:
    """Run one contender in a fresh interpreter (``tree``'s own benchmarks/run.py) and read back its JSON line."""
    script = tree / "benchmarks" / "run.py"
    out = subprocess.run(
        [sys.executable, str(script), "--child", *args],
        cwd=tree,
        env=tree_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_command(script: str) -> dict:
    """Wall time of a shell command, and the largest peak RSS of any process it ran (DVC's stages too)."""
    started = time.perf_counter()
    subprocess.run(["sh", "-c", script], cwd=ROOT, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    # ru_maxrss of RUSAGE_CHILDREN is the largest of all waited-for descendants, DVC's stage processes too
    return {"seconds": seconds, "largest_process_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def time_commands(*commands: list[str], tree: Path = ROOT) -> dict:
    """Run the commands one after another in one fresh child; their total time and largest process."""
    result = run_child("command", " && ".join(" ".join(command) for command in commands), tree=tree)
    return {"seconds": result["seconds"], "largest_process_rss_mb": result["largest_process_rss_mb"]}


DVC = [str(Path(sys.executable).parent / "dvc"), "repro"]


def time_pipeline(tree: Path = ROOT) -> dict:
    """``dvc repro`` (serial) and ``make run`` (train stages side by side) after fetch, then a no-op repro."""
    serial = time_commands(DVC + ["--force", "--downstream", "vectorize"], tree=tree)
    side_by_side = time_commands(
        DVC + ["--force", "--single-item", "vectorize"],
        [sys.executable, "-m", "imdb_sentiment.runtime.repro", "--force-train"],
        tree=tree,
    )
    return {
        "dvc_repro_from_vectorize": serial,
        "make_run_from_vectorize": side_by_side,
        "noop_dvc_repro": time_commands(DVC, tree=tree),
    }


def lines_of_code(tree: Path) -> dict[str, int]:
    """Lines in the library, the stage scripts and the tests of ``tree``."""
    count = lambda pattern: sum(len(path.read_text().splitlines()) for path in sorted(tree.glob(pattern)))  # noqa: E731
    return {"library": count("src/imdb_sentiment/*.py"), "stages": count("stages/*.py"), "tests": count("tests/*.py")}


def worktree(rev: str) -> Path:
    """A fresh git worktree of ``rev`` with its data fetched and vectorized (from IMDB_MIRROR, else this tree's
    data/raw), so both sides start alike: no MLflow store, no DVC cache of trained models."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{rev[:12]}-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], cwd=ROOT, check=True, capture_output=True)
    env = {**tree_env(folder), "IMDB_MIRROR": os.environ.get("IMDB_MIRROR", str(ROOT / "data" / "raw"))}
    subprocess.run(DVC + ["vectorize"], cwd=folder, env=env, check=True, capture_output=True)
    return folder


def study_metrics(tree: Path) -> dict:
    """The study's answers in ``tree`` after its pipeline ran: every variant's metrics and the final test score."""
    reports = tree / "reports"
    variants = {path.parent.name: json.loads(path.read_text()) for path in sorted(reports.glob("train/*/metrics.json"))}
    for variant, metrics in variants.items():  # without what differs by design between any two runs
        metrics.pop("parent_run_id", None), metrics.pop("train_seconds", None)
        seeds_file = reports / "train" / variant / "seeds.json"  # each seed's numbers (older revisions: per_seed)
        seeds = json.loads(seeds_file.read_text())["seeds"] if seeds_file.is_file() else metrics.get("per_seed", {})
        metrics["per_seed"] = {
            seed: {k: v for k, v in run.items() if k not in ("train_seconds", "run_id")} for seed, run in seeds.items()
        }
    final = json.loads((reports / "final" / "metrics.json").read_text())
    return {"variants": variants, "final_test": {key: value for key, value in final.items() if key.startswith("test_")}}


def compare_revisions(before_rev: str, variants: list[str]) -> dict:
    """``before_rev`` against HEAD, each in its own fresh worktree, measured alternately in one run."""
    trees = {"before": worktree(before_rev), "after": worktree("HEAD")}
    revs = {
        side: subprocess.run(
            ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        for side, rev in (("before", before_rev), ("after", "HEAD"))
    }
    rows: dict[str, dict] = {"revision": revs, "lines_of_code": {s: lines_of_code(t) for s, t in trees.items()}}
    try:
        for variant in variants:
            rows[f"{variant} epoch"] = {
                side: run_child("train", "ours", variant, tree=tree) for side, tree in trees.items()
            }
        rows["tracking"] = {side: run_child("tracking", "l2_3layer", tree=tree) for side, tree in trees.items()}
        rows["pipeline"] = {side: time_pipeline(tree) for side, tree in trees.items()}
        rows["metrics"] = {side: study_metrics(tree) for side, tree in trees.items()}
    finally:
        for tree in trees.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    return rows


def revision_table(rows: dict) -> list[str]:
    """The before/after comparison as lines: before, after, after/before."""
    b, a = rows["revision"]["before"], rows["revision"]["after"]
    lines = [f"{'before ' + b + ' / after ' + a:<40} {'before':>10} {'after':>10} {'after/before':>13}"]
    figure = lambda label, before, after, unit: lines.append(  # noqa: E731
        f"{label:<40} {before:>8.3f}{unit:>2} {after:>8.3f}{unit:>2} {after / before:>12.3f}x"
    )
    for key, value in rows.items():
        if key.endswith(" epoch"):
            figure(
                f"{key}: median epoch",
                value["before"]["median_epoch_seconds"],
                value["after"]["median_epoch_seconds"],
                " s",
            )
            figure(
                f"{key}: best val accuracy",
                value["before"]["best_val_accuracy"],
                value["after"]["best_val_accuracy"],
                "",
            )
            figure(f"{key}: peak RSS", value["before"]["peak_rss_mb"], value["after"]["peak_rss_mb"], "MB")
    tracking = rows["tracking"]
    figure(
        "MLflow share of a l2_3layer stage",
        tracking["before"]["mlflow_share"] * 100,
        tracking["after"]["mlflow_share"] * 100,
        " %",
    )
    figure("l2_3layer stage total", tracking["before"]["total_seconds"], tracking["after"]["total_seconds"], " s")
    for name, label in (
        ("dvc_repro_from_vectorize", "dvc repro after fetch"),
        ("make_run_from_vectorize", "make run after fetch"),
        ("noop_dvc_repro", "no-op dvc repro"),
    ):
        before, after = rows["pipeline"]["before"][name], rows["pipeline"]["after"][name]
        figure(label, before["seconds"], after["seconds"], " s")
        figure(f"{label}: largest process", before["largest_process_rss_mb"], after["largest_process_rss_mb"], "MB")
    same = rows["metrics"]["before"] == rows["metrics"]["after"]
    lines.append(f"{'study metrics (every variant, final test)':<40} {'identical' if same else 'DIFFERENT'}")
    for part in ("library", "stages", "tests"):
        figure(
            f"lines of code: {part}", rows["lines_of_code"]["before"][part], rows["lines_of_code"]["after"][part], ""
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", action="store_true", help="also time dvc repro (trains everything)")
    parser.add_argument("--variants", nargs="+", default=["l2_3layer", "base_1layer"])
    parser.add_argument("--tracking-seeds", default="", help="e.g. 0: the MLflow benchmark with these seeds only")
    parser.add_argument("--against", metavar="REV", help="compare HEAD with REV side by side (see the usage above)")
    parser.add_argument(
        "--epoch-writers",
        nargs="+",
        default=["thread"],
        choices=EPOCH_WRITERS,
        help="per-epoch metric writers to measure side by side in the MLflow benchmark",
    )
    parser.add_argument("--only-tracking", action="store_true", help="run the MLflow benchmark only")
    args = parser.parse_args()
    if args.child:
        kind, method, *rest = args.child
        if kind == "vectorize":
            result = child_vectorize(method)
        elif kind == "command":
            result = child_command(method)
        elif kind == "tracking":
            result = child_tracking(method, *rest)
        else:
            result = child_train(method, *rest)
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
        return

    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "rows": []}
    if args.against:
        results["revisions"] = compare_revisions(args.against, args.variants)
        (ROOT / "benchmarks" / "revisions.json").write_text(json.dumps(results, indent=2) + "\n")
        print("\n".join(revision_table(results["revisions"])))
        return
    table = []
    pairs = (
        []
        if args.only_tracking
        else ([("vectorize 50k reviews", ("vectorize",))] + [(f"{v} epoch", ("train", v)) for v in args.variants])
    )
    for label, child in pairs:
        notebook = run_child(child[0], "notebook", *child[1:])
        ours = run_child(child[0], "ours", *child[1:])
        key = "seconds" if child[0] == "vectorize" else "median_epoch_seconds"
        row = {
            "benchmark": label,
            "notebook": notebook,
            "ours": ours,
            "speedup": notebook[key] / ours[key],
            "rss_ratio": notebook["peak_rss_mb"] / ours["peak_rss_mb"],
        }
        extra = (
            ""
            if child[0] == "vectorize"
            else (
                f"  first epoch {notebook['first_epoch_seconds']:.2f}/{ours['first_epoch_seconds']:.2f} s,"
                f" best val acc {notebook['best_val_accuracy']:.4f}/{ours['best_val_accuracy']:.4f}"
            )
        )
        table.append(
            f"{label:<24} {notebook[key]:>8.3f} s {ours[key]:>8.3f} s {row['speedup']:>6.1f}x "
            f"{notebook['peak_rss_mb']:>8.0f} MB {ours['peak_rss_mb']:>7.0f} MB{extra}"
        )
        print(table[-1], flush=True)
        if child[0] == "train":  # ours with the speed layer off (trainer.fast_path=false)
            row["ours_fast_path_off"] = stock = run_child("train", "stock", *child[1:])
            table.append(
                f"{label + ', fast_path off':<24} {'':>10} {stock[key]:>8.3f} s  (fast_path on "
                f"{ours[key]:.3f} s: {stock[key] / ours[key]:.2f}x), best val acc {stock['best_val_accuracy']:.4f}"
            )
            print(table[-1], flush=True)
        results["rows"].append(row)
        if child[0] == "vectorize":  # the bigram option beside the words-only encoding
            row["ours_bigrams"] = bigrams = run_child("vectorize", "bigrams")
            table.append(
                f"{'  + 50k bigrams':<24} {'':>10} {bigrams['seconds']:>8.3f} s {'':>7} {'':>11} "
                f"{bigrams['peak_rss_mb']:>7.0f} MB  ({bigrams['seconds'] / ours['seconds']:.1f}x the words-only time)"
            )
            print(table[-1], flush=True)
    results["tracking"] = tracking = {}
    for writer in args.epoch_writers:
        tracking[writer] = run = run_child("tracking", "l2_3layer", args.tracking_seeds, writer)
        table.append(
            f"MLflow logging share of a l2_3layer train stage ({run['seeds']} seeds, epoch writer {writer}): "
            f"{run['mlflow_share']:.1%} ({run['mlflow_seconds']:.2f} s of {run['total_seconds']:.2f} s; plus "
            f"{run['background_mlflow_seconds']:.2f} s on background threads); epoch writer on the training "
            f"thread: {run['epoch_call_ms_median']:.2f} ms an epoch (max {run['epoch_call_ms_max']:.1f}), "
            f"{run['epoch_writer_close_ms']} ms at each run's end, "
            f"{run['epoch_writer_training_thread_seconds']:.3f} s "
            f"for {run['epochs']} epochs"
        )
        print(table[-1], flush=True)
    if args.pipeline:
        results["pipeline"] = time_pipeline()
        serial, side_by_side = (
            results["pipeline"][key] for key in ("dvc_repro_from_vectorize", "make_run_from_vectorize")
        )
        table.append(
            f"pipeline after fetch: dvc repro {serial['seconds']:.1f} s, make run (train stages 2 at a "
            f"time) {side_by_side['seconds']:.1f} s; no-op dvc repro "
            f"{results['pipeline']['noop_dvc_repro']['seconds']:.2f} s; largest process "
            f"{serial['largest_process_rss_mb']:.0f} / {side_by_side['largest_process_rss_mb']:.0f} MB"
        )
        print(table[-1], flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'':<24} {'notebook':>10} {'ours':>10} {'ratio':>7} {'nb RSS':>11} {'our RSS':>10}")
    print("\n".join(table))


if __name__ == "__main__":
    main()
