"""make run's pipeline runner: the train stages side by side, with the same outputs and caching as dvc repro."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from helpers.pipeline import dvc, point_at_fixture, shrink_training
from helpers.project import make_project, run

from imdb_sentiment.runtime import repro


def write_metrics(project: Path, variant: str, seconds: float, seeds: int = 3) -> None:
    folder = project / "reports/train" / variant
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"seeds": seeds, "train_seconds": seconds}))


def test_the_plan_knows_what_each_stage_needs_and_the_longest_train_stage_starts_first(project, monkeypatch):
    write_metrics(project, "base_1layer", 2.0)
    write_metrics(project, "l2_3layer", 9.0)
    write_metrics(project, "l2_1layer", 3.0, seeds=4)  # 12 s in all, against 27 s and 6 s
    write_metrics(project, "linear", 1.0)
    monkeypatch.chdir(project)
    steps = repro.plan()
    assert steps.order[:2] == ["fetch", "vectorize"] and steps.order[-1] == "report"
    assert "compare" in steps.needs["final"] and "compare" in steps.needs["baselines"]
    assert "baselines" not in steps.needs["final"] and "final" not in steps.needs["baselines"]  # side by side
    assert (
        steps.needs["side_by_side"] == {"vectorize", "compare", "final", "baselines"}
        and "final" in steps.needs["register"]
    )
    assert steps.forced == set(steps.order) - {"fetch", "vectorize"}
    scheduler = repro.Scheduler(steps, jobs=3, force_train=False)
    scheduler.done = {"fetch", "vectorize"}
    # l1_3layer has no metrics yet (never ran): unknown goes first
    assert scheduler.ready(started=scheduler.done) == [
        "train@l1_3layer",
        "train@l2_3layer",
        "train@l2_1layer",
        "train@base_1layer",
        "train@linear",
    ]
    scheduler.done |= {s for s in steps.order if s.startswith("train@")} | {"compare"}
    assert set(scheduler.ready(started=scheduler.done)) == {"final", "baselines"}


def test_force_train_forces_the_train_stages_and_all_after_them_one_stage_at_a_time(project, monkeypatch):
    """What --force-train asks DVC for, stage by stage (DVC's --force --single-item reruns just that stage)."""
    monkeypatch.chdir(project)
    steps, calls = repro.plan(), []
    monkeypatch.setattr(repro, "dvc_repro", lambda args, prefix, wait_for_lock: calls.append(tuple(args)) or 0)
    assert repro.Scheduler(steps, jobs=2, force_train=True).run() == []
    assert sorted(calls) == sorted(
        [("--single-item", "fetch"), ("--single-item", "vectorize")]
        + [("--force", "--single-item", stage) for stage in steps.forced]
    )


def runner(project: Path, *args: str, env: dict, check: bool = True):
    return run([sys.executable, "-m", "imdb_sentiment.runtime.repro", *args], project, env=env, check=check)


@pytest.mark.slow
def test_make_run_matches_dvc_repro_runs_train_stages_side_by_side_and_caches_per_variant(
    tmp_path, keras_mirror, fixture_pipeline
):
    serial_project, env, _ = fixture_pipeline  # dvc repro's, one after another: only read here
    project = make_project(tmp_path / "parallel")
    point_at_fixture(project, keras_mirror)
    shrink_training(project, ["base_1layer", "l2_3layer"])

    first = runner(project, "--jobs", "2", env=env).stdout.splitlines()
    for stage in ("fetch", "vectorize", "compare", "final", "baselines", "side_by_side", "register", "report"):
        assert f"[{stage}] Running stage '{stage}':" in first
    started = {
        variant: first.index(f"[train@{variant}] Running stage 'train@{variant}':")
        for variant in ("base_1layer", "l2_3layer")
    }
    finished = {
        variant: next(i for i, line in enumerate(first) if line.startswith(f"[train@{variant}] Updating lock"))
        for variant in started
    }
    assert max(started.values()) < min(finished.values())  # the second started before the first finished
    assert not any("To enable auto staging" in line for line in first)  # DVC's hint after every stage: once
    assert first[-1].startswith("dvc.lock changed: `git add dvc.lock reports` keeps the results")

    for variant in ("base_1layer", "l2_3layer"):  # deterministic training: the same numbers as dvc repro's
        ours = json.loads((project / f"reports/train/{variant}/metrics.json").read_text())
        theirs = json.loads((serial_project / f"reports/train/{variant}/metrics.json").read_text())
        assert ours["best_val_accuracy"] == theirs["best_val_accuracy"]
        ours, theirs = (
            json.loads((p / f"reports/train/{variant}/seeds.json").read_text()) for p in (project, serial_project)
        )
        assert [s["best_val_loss"] for s in ours["seeds"].values()] == [
            s["best_val_loss"] for s in theirs["seeds"].values()
        ]
    assert (
        json.loads((project / "reports/compare/best.json").read_text())["variant"]
        == json.loads((serial_project / "reports/compare/best.json").read_text())["variant"]
    )
    assert "Data and pipelines are up to date" in dvc(project, "repro", env=env).stdout
    ours_lock, serial_lock = (
        yaml.safe_load((folder / "dvc.lock").read_text())["stages"] for folder in (project, serial_project)
    )
    assert set(ours_lock) == set(serial_lock)
    for stage, entry in serial_lock.items():  # the same commands and params (output hashes carry run ids)
        assert (ours_lock[stage]["cmd"], ours_lock[stage].get("params")) == (entry["cmd"], entry.get("params"))

    again = runner(project, env=env).stdout
    assert "Running stage" not in again  # every stage skipped, each on its own

    model_file = project / "conf/model/l2_3layer.yaml"
    model_file.write_text(model_file.read_text().replace("units: 64", "units: 8"))
    changed = runner(project, env=env).stdout
    assert "Running stage 'train@l2_3layer'" in changed and "Running stage 'compare'" in changed
    assert "Running stage 'train@base_1layer'" not in changed  # per-variant caching, as in dvc repro

    model_file.write_text(model_file.read_text().replace("units: 8", "units: 0"))
    broken = runner(project, env=env, check=False)
    assert broken.returncode == 1
    assert "error: train@l2_3layer failed" in broken.stderr and "Running stage 'compare'" not in broken.stdout
    assert "model.units" in broken.stdout  # the stage's own one-line error, under its prefix


@pytest.mark.slow
def test_sigterm_reaches_the_running_stages_which_end_their_runs_killed(tmp_path, keras_mirror):
    project = make_project(tmp_path / "project")
    point_at_fixture(project, keras_mirror)
    shrink_training(project, ["base_1layer", "l2_3layer"])
    trainer_file = project / "conf/trainer/default.yaml"  # long enough to be caught training
    trainer = yaml.safe_load(trainer_file.read_text())
    trainer.update(max_epochs=100000, patience=100000, verbose=True, steps_per_execution=1)
    trainer_file.write_text(yaml.safe_dump(trainer))
    for variant in ("base_1layer", "l2_3layer"):  # the variants' own early stopping too
        model_file = project / f"conf/model/{variant}.yaml"
        model = yaml.safe_load(model_file.read_text())
        model["trainer"]["patience"] = 100000
        model_file.write_text("# @package _global_\n" + yaml.safe_dump(model))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {
        **os.environ,
        "IMDB_MIRROR": str(keras_mirror),
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "imdb_sentiment.runtime.repro", "--jobs", "2"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[str] = set()
    for line in process.stdout:  # wait until both train stages are in their third epoch
        for variant in ("base_1layer", "l2_3layer"):
            if line.startswith(f"[train@{variant}]") and " epoch 3 (max " in line:
                seen.add(variant)
        if len(seen) == 2:
            break
    process.send_signal(signal.SIGTERM)
    rest, errors = process.communicate(timeout=180)
    assert process.returncode == 143, rest + errors
    assert "interrupted (SIGTERM): the running stages were stopped" in errors
    assert "Running stage 'compare'" not in rest
    leftover = subprocess.run(["pgrep", "-f", "stages/train.py"], capture_output=True, text=True).stdout.split()
    assert not [pid for pid in leftover if str(project) in Path(f"/proc/{pid}/cwd").resolve().as_posix()]
    runs = mlflow.MlflowClient(uri).search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(uri).search_experiments()]
    )
    assert {(r.data.tags["variant"], r.data.tags["level"]): r.info.status for r in runs} == {
        (variant, level): "KILLED" for variant in ("base_1layer", "l2_3layer") for level in ("variant", "seed")
    }
    assert not (project / "models/variants").exists() or not any((project / "models/variants").iterdir())
    assert "train@" not in (project / "dvc.lock").read_text()
