"""Side-by-side measurements against the original notebook's method, on the real data.

Each contender runs in its own subprocess, so peak RSS is its own. Results print as a table and go to
benchmarks/results.json. Usage (from the project root, with the data fetched: `dvc repro vectorize`;
`python -m benchmarks` takes the same options):

    python benchmarks/run.py                      # vectorize (words; + 50k bigrams) + train-epoch benchmarks (ours
                                                  # with fast_path on and off)
    python benchmarks/run.py --pipeline           # also time `dvc repro` and `make run` (trains everything twice)
    python benchmarks/run.py --only-tracking --epoch-writers thread mlflow-async mlflow-async-1s
                                                  # the MLflow benchmark alone, once per per-epoch writer
    python benchmarks/run.py --against REV        # this commit against REV, side by side: epochs, MLflow share,
                                                  # dvc repro, make run, lines of code (each in a fresh worktree)
    python benchmarks/run.py --predict REV        # one review scored: REV's predict (the text model with alias
                                                  # --before-alias) against HEAD's (@champion), and the server
    python benchmarks/run.py --profile            # where an epoch of each --variants goes, op by op (torch.profiler)
    python benchmarks/run.py --study nbsvm_bigrams  # the whole study, `dvc exp run -S features=...` in a fresh clone
                                                  # after fetch, into reports/timings.json (the results page)
    python benchmarks/run.py --make-run REV --rounds 3
                                                  # make run of REV and of HEAD, alternately, into reports/timings.json
    python benchmarks/run.py --features nbsvm_bigrams --variants linear base_1layer l2_1layer l1_3layer l2_3layer
                                                  # each variant on those features beside the words: s/epoch, RSS
"""

from __future__ import annotations

import argparse
import json

from . import (
    feature_set,
    mlflow_share,
    pipeline,
    predict,
    profile_step,
    revisions,
    train_epoch,
    vectorize,
    whole_runs,
)
from .harness import FEATURE_SETS, RESULTS, Table, child_command, contest_table, new_results, peak_rss_mb, write_results

# what `--child KIND METHOD [ARGS...]` runs: the parent's (or another tree's parent's) side of the protocol is
# harness.run_child, so the kinds and their arguments stay as older revisions' benchmarks/run.py send them
CHILDREN = {
    "vectorize": vectorize.child,
    "train": train_epoch.child,
    "tracking": mlflow_share.child,
    "command": child_command,
    "scoring": predict.child_scoring,
    "serving": predict.child_serving,
    "profile": profile_step.child,
    "features": feature_set.child,
}


def parse_args() -> argparse.Namespace:
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
        choices=mlflow_share.EPOCH_WRITERS,
        help="per-epoch metric writers to measure side by side in the MLflow benchmark",
    )
    parser.add_argument("--only-tracking", action="store_true", help="run the MLflow benchmark only")
    parser.add_argument("--profile", action="store_true", help="where an epoch of --variants goes, op by op")
    parser.add_argument("--predict", metavar="REV", help="scoring one review: REV's predict against HEAD's")
    parser.add_argument(
        "--features", metavar="NAME", help="each of --variants on conf/features/NAME beside the words: s/epoch, RSS"
    )
    parser.add_argument(
        "--study", nargs="+", metavar="NAME", help="the whole study with each conf/features/NAME, timed"
    )
    parser.add_argument("--make-run", metavar="REV", help="make run of REV and of HEAD, alternately --rounds times")
    parser.add_argument("--rounds", type=int, default=3, help="with --make-run: rounds of the two (default 3)")
    parser.add_argument(
        "--before-alias", default="before", help="with --predict: the text model version REV scores (an alias)"
    )
    return parser.parse_args()


def run_as_child(kind: str, method: str, *rest: str) -> None:
    """One contender in this process: its figures and peak RSS as the last line of stdout."""
    result = CHILDREN[kind](method, *rest)
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


def measure_selected(args: argparse.Namespace, table: Table) -> dict:
    """The benchmarks the options select, in order; each adds its rows to ``table`` as it finishes."""
    results = new_results()
    if not args.only_tracking:
        results["rows"] = [vectorize.measure(table), *(train_epoch.measure(v, table) for v in args.variants)]
    results["tracking"] = mlflow_share.measure(args.tracking_seeds, args.epoch_writers, table)
    if args.pipeline:
        results["pipeline"] = pipeline.measure(table)
    return results


def main() -> None:
    args = parse_args()
    if args.child:
        run_as_child(*args.child)
    elif args.study:
        whole_runs.run_studies(args.study)
    elif args.make_run:
        whole_runs.run_make_run(args.make_run, args.rounds)
    elif args.profile:
        profile_step.run(args.variants)
    elif args.predict:
        predict.compare(args.predict, args.before_alias)
    elif args.against:
        revisions.compare(args.against, args.variants)
    elif args.features:
        write_results(FEATURE_SETS, feature_set.measure(args.features, args.variants))
    else:
        table = contest_table()
        write_results(RESULTS, measure_selected(args, table))
        print(table.render())


if __name__ == "__main__":
    main()
