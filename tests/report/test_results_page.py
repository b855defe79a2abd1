"""The results page: every section, with numbers computed from constructed compare and retrain_final files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from helpers.config import yaml_config

from imdb_sentiment.config.paths import PathsConfig
from imdb_sentiment.report.feature_sets import write_feature_set_record
from imdb_sentiment.report.inputs import read_inputs
from imdb_sentiment.report.page import results_page, write_results_page
from imdb_sentiment.runtime.errors import DataError


def row(variant: str, accuracy: float, accuracy_std: float, best_epoch: float) -> dict:
    return {
        "variant": variant,
        "seeds": 3,
        "best_val_accuracy_mean": accuracy,
        "best_val_accuracy_std": accuracy_std,
        "best_val_bce_mean": 0.32,
        "best_val_bce_std": 0.02,
        "loss_function": "mse",
        "best_val_loss_mean": 0.3,
        "best_val_loss_std": 0.01,
        "best_epoch_mean": best_epoch,
        "best_epoch_std": 1.0,
        "epochs_run_mean": best_epoch + 4,
        "epochs_run_std": 1.0,
        "train_seconds_mean": 10.0,
        "train_seconds_std": 2.0,
    }


SUMMARY = [
    row("base_1layer", 0.8850, 0.0020, 7.0),
    row("l2_3layer", 0.8790, 0.0030, 20.0),
    {**row("l1_3layer", 0.4950, 0.0, 8.0), "learned": False},
]
BEST = {
    "variant": "base_1layer",
    "epochs": 7,
    "metric": "best_val_accuracy",
    "runner_up": "l2_3layer",
    "lead": 0.006,
    "spread": 0.003,
    "lead_exceeds_spread": True,
    "reason": "base_1layer has the highest mean best_val_accuracy (reason from best.json).",
    "value": 0.8850,
    "std": 0.0020,
    "seeds": 3,
}
NUMBERS = {
    "epochs": 7,
    "train_rows": 15000,
    "test_accuracy": 0.8800,
    "test_f1": 0.8784,
    "test_precision": 0.8906,
    "test_recall": 0.8666,
    "test_roc_auc": 0.9490,
    "test_bce": 0.2950,
    "test_loss": 0.0880,
}


SIDE_BY_SIDE = {
    "test_accuracy_partial": 0.8800,
    "test_accuracy_full": 0.8850,
    "train_rows_partial": 15000,
    "train_rows_full": 25000,
    "notebook_test_accuracy": 0.8690,
    "ours_minus_notebook": 0.0110,
    "ours_minus_notebook_low": 0.0070,
    "ours_minus_notebook_high": 0.0150,
    "mcnemar_minus_log10_p": 4.0,
    "only_ours_right": 900,
    "only_notebook_right": 625,
}
STATS = {
    "words": 10000,
    "bigrams": 0,
    "split": {"validation_rows": 10000, "partial_train_rows": 15000},
    "train": {"rows": 25000},
    "vectorize": {"seconds": 0.45, "peak_rss_mb": 150.0},
}
RUN = {
    "variant": "base_1layer",
    "train_on": "partial",
    "features": "multihot",
    "notebook_variant": "l2_3layer",
    "notebook_comparison": "On the same 25,000 test reviews, base_1layer (McNemar sentence from run.json).",
    "mcnemar_p_value": 2.2e-28,
    "run_id": "abc123",
    "registered_version": 21,
    "registry": "moved @champion of imdb-sentiment to version 21",
}

NOTEBOOK_KEYS = {"notebook_variant", "notebook_comparison", "mcnemar_p_value"}
STORE_KEYS = {"run_id", "registered_version", "registry"}  # this store's ids: beside the models, not in reports/


def reports(tmp_path: Path, summary=SUMMARY, best=BEST, metrics=None, run=None, side_by_side=None, stats=None) -> Path:
    """A reports folder as the stages leave it (numbers in the final and side_by_side stages' metrics.json,
    words in run.json and comparison.json), and the store's ids beside the models (models/final/runs.json,
    models/registry.json)."""
    root = tmp_path / "reports"
    for folder in ("compare/plots", "final/plots", "data", "side_by_side"):
        (root / folder).mkdir(parents=True)
    (root / "compare/plots/train_val_loss.png").write_bytes(b"png")
    (root / "final/plots/roc_curve.png").write_bytes(b"png")
    (root / "compare/summary.json").write_text(json.dumps(summary))
    (root / "compare/best.json").write_text(json.dumps(best))
    (root / "final/metrics.json").write_text(json.dumps(metrics or NUMBERS))
    run = run or {**RUN, "variant": best["variant"]}
    (root / "side_by_side/comparison.json").write_text(json.dumps({key: run[key] for key in NOTEBOOK_KEYS}))
    (tmp_path / "models/final").mkdir(parents=True)
    (tmp_path / "models/final/runs.json").write_text(json.dumps({"run_id": run["run_id"]}))
    (tmp_path / "models/registry.json").write_text(json.dumps({k: run[k] for k in STORE_KEYS - {"run_id"}}))
    run_json = {key: value for key, value in run.items() if key not in NOTEBOOK_KEYS | STORE_KEYS}
    (root / "final/run.json").write_text(json.dumps(run_json))
    (root / "side_by_side/metrics.json").write_text(json.dumps(side_by_side or SIDE_BY_SIDE))
    (root / "data/stats.json").write_text(json.dumps(stats or STATS))
    return root


def paths_under(root: Path) -> PathsConfig:
    """The configured paths, with the reports folder at ``root``."""
    return dataclasses.replace(
        yaml_config().paths,
        reports_dir=str(root),
        compare_reports=str(root / "compare"),
        choice=str(root / "compare/best.json"),
        final_reports=str(root / "final"),
        side_by_side_reports=str(root / "side_by_side"),
        final_models=str(root.parent / "models/final"),
        registry_record=str(root.parent / "models/registry.json"),
        data_stats=str(root / "data/stats.json"),
        results_page=str(root / "README.md"),
        feature_sets=str(root / "feature_sets"),
        timings=str(root / "timings.json"),
    )


def page(root: Path) -> str:
    return results_page(read_inputs(dataclasses.replace(yaml_config(), paths=paths_under(root))))


def test_the_page_has_the_table_winner_protocol_test_metrics_and_figures(tmp_path):
    text = page(reports(tmp_path))
    header = (
        "| rank | variant | seeds | val accuracy | val cross-entropy | val training loss | best epoch | "
        "train time (s) | behind | × spread |"
    )
    assert header in text
    assert (
        "| 1 | base_1layer | 3 | 0.8850 ± 0.0020 | 0.3200 ± 0.0200 | 0.3000 ± 0.0100 (MSE) | 7.0 ± 1.0 | "
        "10.0 ± 2.0 | winner |" in text
    )
    assert "| 2 | l2_3layer | 3 | 0.8790 ± 0.0030 |" in text and "| 0.0060 | 2.0× |" in text  # 0.006 / 0.003
    assert "**base_1layer**, retrained for 7 epochs. base_1layer has the highest" in text
    assert "the seed spread." not in text  # the reason already gives the lead against the spread, once
    assert "base_1layer was retrained from scratch for 7 epochs" in text
    assert (
        "| **partial**: the training reviews minus the validation split, as the notebook did | 15,000 | **0.8800** |"
        in text
    )
    assert "| full: every training review, the validation split included | 25,000 | 0.8850 |" in text
    assert "`full` scores 0.0050 higher on this run; the pipeline uses `partial`" in text
    assert "| test_accuracy | 0.8800 |" in text and "| test_roc_auc | 0.9490 |" in text
    assert "| test_bce (cross-entropy) | 0.2950 |" in text and "| test_loss (MSE, its training loss) | 0.0880 |" in text
    assert "| train_rows | 15,000 |" in text and "| epochs | 7 |" in text
    assert "- [compare/plots/train_val_loss.png](compare/plots/train_val_loss.png): training vs validation loss" in text
    assert "abc123" not in text and "version 21" not in text and "registry" not in text.lower()
    assert "- [final/plots/roc_curve.png](final/plots/roc_curve.png)" in text
    assert text.index("compare/plots/") < text.index("final/plots/")


def test_the_page_opens_with_the_answer(tmp_path):
    text = page(reports(tmp_path))
    answer = text.split("## The answer")[1].split("## Variants")[0]
    assert text.index("## The answer") < text.index("## Variants")
    assert "**base_1layer** wins: mean validation accuracy 0.8850 ± 0.0020 over 3 seeds." in answer
    assert "it scores **0.8800** test accuracy, 0.0127 above the notebook's published 0.8673" in answer
    assert (
        "(l2_3layer; re-run here on the same rows it scores 0.8690, and ours is better review by review at " in answer
    )
    assert "McNemar's p = 2.2e-28)." in answer
    assert "l1_3layer did not learn (chance accuracy on every epoch) and was not considered." in answer


def test_the_notebook_comparison_is_computed_from_the_inputs(tmp_path):
    text = page(reports(tmp_path))
    assert "| chosen variant | l2_3layer | base_1layer |" in text  # conf/final/: the notebook's choice
    assert "| epochs | 8 | 7 |" in text and "| test accuracy | 0.8673 | 0.8800 |" in text
    assert "the notebook's l2_3layer ranks 2 of 3 by mean best_val_accuracy (0.8790 ± 0.0030)" in text
    assert "base_1layer leads it by 0.0060, 2.0× the seed spread (0.0030): larger than seed noise" in text
    assert "l2_3layer's best epoch is 20.0 ± 1.0 (mean ± std over seeds), against the notebook's 8" in text
    assert "test accuracy is 0.0127 above the notebook's" in text  # 0.8800 - 0.8673


def test_a_lead_within_the_spread_and_agreement_with_the_notebook_are_said_so(tmp_path):
    close = [row("base_1layer", 0.8795, 0.003, 7.0), row("l2_3layer", 0.8790, 0.003, 20.0)]
    text = page(reports(tmp_path / "a", summary=close))
    assert "leads it by 0.0005, 0.2× the seed spread (0.0030): within seed noise" in text
    agree = [row("l2_3layer", 0.8850, 0.002, 8.0), row("base_1layer", 0.8790, 0.003, 7.0)]
    text = page(reports(tmp_path / "b", summary=agree, best={**BEST, "variant": "l2_3layer"}))
    assert "this pipeline agrees with the notebook: l2_3layer ranks first, 0.0060 ahead of base_1layer" in text


def test_text_fields_come_from_run_json_and_no_id_of_the_local_store_reaches_the_page(tmp_path):
    """The page is in git: a clone's MLflow store holds other run ids and registry versions."""
    run = {**RUN, "train_on": "full", "run_id": "r-new", "registry": "kept @champion on version 7"}
    text = page(reports(tmp_path, metrics={**NUMBERS, "train_rows": 25000}, run=run))
    assert "| **full**: every training review, the validation split included | 25,000 | **0.8850** |" in text
    assert "`full` scores 0.0050 higher on this run; the pipeline uses it." in text
    assert "r-new" not in text and "version 7" not in text


def test_the_notebook_choice_re_run_sits_beside_ours_with_the_paired_test(tmp_path):
    text = page(reports(tmp_path))
    assert "| | notebook (published) | notebook's choice, re-run here | this pipeline |" in text
    assert "| variant | l2_3layer | l2_3layer | base_1layer |" in text
    assert "| training rows | 15,000 | 15,000 | 15,000 |" in text
    assert "| test accuracy | 0.8673 | 0.8690 | 0.8800 |" in text
    assert RUN["notebook_comparison"] in text


def test_the_yardsticks_are_the_configured_ones(tmp_path):
    """The notebook's result and the targets come from conf/report/ and conf/final/, not from the code."""
    cfg = yaml_config()
    report = dataclasses.replace(cfg.report, published_test_accuracy=0.8, accuracy_targets={"multihot": 0.87})
    final = dataclasses.replace(cfg.final, notebook_variant="linear", notebook_epochs=3)
    cfg = dataclasses.replace(cfg, paths=paths_under(reports(tmp_path)), report=report, final=final)
    text = results_page(read_inputs(cfg))
    assert "| chosen variant | linear | base_1layer |" in text and "| test accuracy | 0.8000 | 0.8800 |" in text
    assert "| final test accuracy, features=multihot | ≥ 0.87 | 0.8800 (met) |" in text
    assert "multihot_bigrams |" not in text.split("## Targets")[1].split("vectorize")[0]


def test_a_variant_that_did_not_learn_is_marked_so_and_not_measured_against_the_winner(tmp_path):
    text = page(reports(tmp_path))
    assert "| 3 | l1_3layer | 3 | 0.4950 ± 0.0000 |" in text
    row = next(line for line in text.splitlines() if "| l1_3layer |" in line)
    assert row.endswith("| did not learn (chance) |  |") and "×" not in row


def test_the_targets_say_which_features_ran_and_whether_each_was_met(tmp_path):
    text = page(reports(tmp_path))
    assert "This run's features: `multihot`, 10,000 words (no bigrams)." in text
    assert "| final test accuracy, features=multihot | ≥ 0.885 | 0.8800 (not met) |" in text
    not_run = "not run with these features: `dvc exp run -S features=multihot_bigrams`"
    assert f"| final test accuracy, features=multihot_bigrams | ≥ 0.9 | {not_run} |" in text
    vectorize = "| vectorize stage (in process), 10,000 words + 50,000 bigrams | ≤ 1 s, ≤ 500 MB |"
    assert f"{vectorize} {not_run}; these features: 0.45 s, 150 MB peak |" in text
    bigram_run = reports(
        tmp_path / "b",
        metrics={**NUMBERS, "test_accuracy": 0.9012},
        run={**RUN, "features": "multihot_bigrams"},
        stats={**STATS, "bigrams": 50000, "vectorize": {"seconds": 1.2, "peak_rss_mb": 480}},
    )
    text = page(bigram_run)
    assert "This run's features: `multihot_bigrams`, 10,000 words + 50,000 bigrams of the training reviews." in text
    assert "| final test accuracy, features=multihot_bigrams | ≥ 0.9 | 0.9012 (met) |" in text
    words_not_run = "not run with these features: `dvc exp run -S features=multihot`"
    assert f"| final test accuracy, features=multihot | ≥ 0.885 | {words_not_run} |" in text
    assert f"{vectorize} 1.20 s, 480 MB peak (not met) |" in text


def test_a_missing_input_names_the_stage_to_run(tmp_path):
    root = reports(tmp_path)
    (root / "final/metrics.json").unlink()
    with pytest.raises(DataError, match=r"dvc repro final"):
        page(root)


def test_the_stage_writes_the_page_and_logs_it_to_the_final_run(tmp_path, monkeypatch, capsys):
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = yaml_config()
    mlflow.set_tracking_uri(uri)
    run_id = MlflowClient(uri).create_run(MlflowClient(uri).create_experiment("e", str(tmp_path / "a"))).info.run_id
    root = reports(tmp_path, run={**RUN, "run_id": run_id})  # models/final/runs.json
    paths = paths_under(root)
    tracking = dataclasses.replace(cfg.tracking, uri=uri)
    written = write_results_page(dataclasses.replace(cfg, paths=paths, tracking=tracking))
    assert written.read_text().startswith("# Results")
    assert [a.path for a in MlflowClient(uri).list_artifacts(run_id)] == ["README.md"]
    said = capsys.readouterr().out  # where the answer is, as the pipeline's last words
    experiment = MlflowClient(uri).get_run(run_id).info.experiment_id
    assert f"The answer: {written} (the results page)" in said
    assert f"#/experiments/{experiment}?workflowType=machine_learning (the runs)" in said
    assert "Champion: models:/imdb-sentiment-text@champion (moved @champion of imdb-sentiment to version 21)" in said


def test_the_page_shows_every_feature_set_the_study_ran_with(tmp_path):
    """This run's row as the side_by_side stage writes it (in bold), another feature set's as its run kept it."""
    root = reports(tmp_path)
    cfg = dataclasses.replace(yaml_config(), paths=paths_under(root))
    written = write_feature_set_record(cfg)
    assert written == root / "feature_sets/multihot.json"
    assert json.loads(written.read_text()) == {
        "features": "multihot",
        "words": 10000,
        "bigrams": 0,
        "trigrams": 0,
        "nb_scaling": False,
        "winner": "base_1layer",
        "metric": "best_val_accuracy",
        "winner_mean": 0.885,
        "winner_std": 0.002,
        "seeds": 3,
        "test_accuracy": 0.88,
        "train_rows": 15000,
        "notebook_variant": "l2_3layer",
        "notebook_test_accuracy": 0.869,
        "mcnemar_p_value": 2.2e-28,
        "training_rows": 25000,
        "validation_rows": 10000,
        "nb_ratio_rows": {},
    }
    other = {
        **json.loads(written.read_text()),
        "features": "nbsvm_bigrams",
        "bigrams": 50000,
        "trigrams": 1000,
        "nb_scaling": True,
        "winner": "linear",
        "winner_mean": 0.9154,
        "winner_std": 0.0007,
        "test_accuracy": 0.9164,
        "train_rows": 25000,
        "notebook_test_accuracy": 0.9036,
        "mcnemar_p_value": 5.3e-22,
    }
    (root / "feature_sets/nbsvm_bigrams.json").write_text(json.dumps(other))
    text = page(root).split("## Feature sets")[1].split("## Targets")[0]
    assert (
        "| **multihot** | 10,000 words | base_1layer: best_val_accuracy 0.8850 ± 0.0020 (3 seeds) | **0.8800** | "
        "l2_3layer: 0.8690 | 2.2e-28 | 0.8800 (not met) | – |" in text
    )
    assert (
        "| nbsvm_bigrams | 10,000 words + 50,000 bigrams + 1,000 trigrams, naive-Bayes scaled | linear: "
        "best_val_accuracy 0.9154 ± 0.0007 (3 seeds) | 0.9164 | l2_3layer: 0.9036 | 5.3e-22 | 0.9164 (met) | – |"
        in text
    )
    assert text.index("| nbsvm_bigrams") < text.index("| **multihot**")  # best test accuracy first
    targets = page(root).split("## Targets")[1]
    assert (
        "| final test accuracy, features=nbsvm_bigrams | ≥ 0.915 | 0.9164 (met) in its own run (Feature sets) |"
        in targets
    )
    assert "features=multihot_bigrams | ≥ 0.9 | not run with these features" in targets


def feature_set_pages(tmp_path: Path, other: dict, timings: dict | None = None, drop: tuple = ()) -> str:
    """The page with this run's row and ``other`` feature set's (as its own run kept it, without the ``drop``
    keys), and the benchmarks' timings when given."""
    root = reports(tmp_path)
    cfg = dataclasses.replace(yaml_config(), paths=paths_under(root))
    this = json.loads(write_feature_set_record(cfg).read_text())
    kept = {key: value for key, value in {**this, **other}.items() if key not in drop}
    (root / "feature_sets" / f"{other['features']}.json").write_text(json.dumps(kept))
    if timings is not None:
        (root / "timings.json").write_text(json.dumps(timings))
    return page(root)


NBSVM = {"features": "nbsvm_bigrams", "bigrams": 50000, "nb_scaling": True, "test_accuracy": 0.9164}


def test_the_targets_show_that_validation_rows_never_reach_the_fitted_features(tmp_path):
    """The rows each set of ratios counted, from the vectorize stage's stats, against the validation rows."""
    scaled = {**NBSVM, "nb_ratio_rows": {"partial": 15000, "full": 25000}}
    targets = feature_set_pages(tmp_path / "a", scaled).split("## Targets")[1]
    rule = "| validation metric of the choice, features={} | on rows the features never saw (unchanged rule) | {} |"
    assert (
        rule.format("multihot", "met: scored on the 10,000 validation rows; no fitted transform reads labels")
        in targets
    )
    assert (
        rule.format(
            "nbsvm_bigrams",
            "met: scored on the 10,000 validation rows; the naive-Bayes ratios they were scaled by count the other "
            "15,000 training rows only",
        )
        in targets
    )
    leaked = {**NBSVM, "nb_ratio_rows": {"partial": 25000, "full": 25000}}  # ratios that counted validation rows
    assert "features=nbsvm_bigrams | on rows the features never saw (unchanged rule) | NOT MET:" in feature_set_pages(
        tmp_path / "b", leaked
    )
    before = feature_set_pages(tmp_path / "c", NBSVM, drop=("training_rows", "validation_rows", "nb_ratio_rows"))
    assert (  # a record kept before the rows were recorded
        "features=nbsvm_bigrams | on rows the features never saw (unchanged rule) | not recorded by its run: "
        "`dvc exp run -S features=nbsvm_bigrams` |" in before
    )


def test_the_targets_show_the_measured_study_and_make_run_times(tmp_path):
    """The whole study's time and make run's against an earlier revision, as the benchmarks measured them."""
    scaled = {**NBSVM, "nb_ratio_rows": {"partial": 15000, "full": 25000}}
    unmeasured = feature_set_pages(tmp_path / "a", scaled)
    assert (
        "| whole study, `dvc exp run -S features=nbsvm_bigrams` after fetch | ≤ 10 min | not measured: "
        "`python benchmarks/run.py --study nbsvm_bigrams` |" in unmeasured
    )
    assert (
        "no slower than an earlier revision | not measured: `python benchmarks/run.py --make-run REV` |" in unmeasured
    )
    stamp = {"revision": "abc1234", "measured": "2026-12-05", "cpus": 2}
    study = {"seconds": 251.4, "largest_process_rss_mb": 1210.0, "test_accuracy": 0.9164, **stamp}
    make_run = {
        "before": {**stamp, "revision": "03c5b56", "median_seconds": 112.0, "seconds": [112.0, 115.2, 110.3]},
        "after": {**stamp, "median_seconds": 111.0, "seconds": [111.0, 116.0, 109.9]},
    }
    text = feature_set_pages(tmp_path / "b", scaled, {"studies": {"nbsvm_bigrams": study}, "make_run": make_run})
    assert (
        "| whole study, `dvc exp run -S features=nbsvm_bigrams` after fetch | ≤ 10 min | 4.2 min (251 s, largest "
        "process 1210 MB; abc1234, 2026-12-05, 2 cores) (met) |" in text
    )
    assert "| 0.9164 (met) | 4.2 min |" in text  # the feature-set table's column
    assert (
        "| `make run` after fetch, default words | no slower than 03c5b56 | abc1234: median 111.0 s against 112.0 s "
        "(0.991×); each round after / before: 0.991×, 1.007×, 0.996×, median 0.996× (met; 2026-12-05) |" in text
    )
    slow = {
        "studies": {"nbsvm_bigrams": {**study, "seconds": 834.0}},
        "make_run": {**make_run, "after": {**stamp, "median_seconds": 115.0, "seconds": [115.0, 118.0, 113.0]}},
    }
    slower = feature_set_pages(tmp_path / "c", scaled, slow)
    assert "13.9 min (834 s" in slower and "2 cores) (not met) |" in slower
    assert "abc1234: median 115.0 s against 112.0 s (1.027×)" in slower
    assert "each round after / before: 1.027×, 1.024×, 1.024×, median 1.024× (not met; 2026-12-05) |" in slower


def test_an_unreadable_timings_file_names_the_benchmark_and_git_not_a_stage(tmp_path):
    root = reports(tmp_path)
    (root / "timings.json").write_text("{")
    with pytest.raises(DataError, match=r"timings.json cannot be read .*benchmarks/run.py --study NAME.*git checkout"):
        page(root)
