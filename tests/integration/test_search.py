"""model.search in the retrain flow on a real Prefect API and MLflow: each trial a Prefect task run and a nested
MLflow run under the training run, the best trial's values and the history on the version, the holdout never read
(poisoning it leaves the search unchanged), and a search SIGKILLed mid-way resumed with its finished trials."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import REPO, spec_text

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

SEARCH = (
    "  search: {trials: 8, parallel: 4, seed: 11, space: {C: {type: float, low: 0.0005, high: 10, log: true}, "
    "fit_intercept: {type: categorical, choices: [true, false]}}}\n"
)


def _searching(
    project: Path,
    search: str = SEARCH,
    params: str = "{max_iter: 500}",
    estimator: str = "",
    file: str = "cancer",
) -> Path:
    """The project's spec (deployments/<file>.yaml) with a search (and a key column, so the holdout's rows can be
    changed in place)."""
    data = project / "data" / "cancer.csv"
    frame = pd.read_csv(data)
    if "row_id" not in frame.columns:
        frame.insert(0, "row_id", range(len(frame)))
        frame.to_csv(data, index=False)
    spec = project / "deployments" / f"{file}.yaml"
    text = spec_text(**({"estimator": estimator} if estimator else {}))
    text = text.replace("params: {C: 1.0, max_iter: 500}", f"params: {params}\n{search.rstrip()}")
    text = text.replace("seed: 3}", "seed: 3, key: [row_id]}\n  features: {exclude: [row_id]}")
    spec.write_text(text)
    return spec


def _task_runs(flow_run_id: Any, name: str) -> int:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterName,
    )

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=name)),
        )
    return len(runs)


def test_a_search_is_tracked_trial_by_trial_and_its_best_values_are_on_the_version(project: Path) -> None:
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from mlops.settings import get_settings
    from tasks.report import summary_markdown

    spec = _searching(project)
    state = retrain(str(spec), return_state=True)
    result = state.result()
    assert result.search[0].startswith("Search: 8 trials (8 complete, 0 pruned, 0 failed): best #")
    assert "(8 fits on 4 threads)" in result.search[0]
    assert result.search[1].startswith("  best #") and "C=" in result.search[1]
    assert "**Search: 8 trials" in summary_markdown(result)
    assert _task_runs(state.state_details.flow_run_id, "search-trial") == 8  # one Prefect task run a trial

    c = MlflowClient(get_settings().tracking_uri)
    run = c.get_run(result.run_id)
    best = json.loads(run.data.tags["mlops.search_best_params"])
    assert set(best) == {"C", "fit_intercept"}
    assert float(run.data.params["search.best.C"]) == pytest.approx(best["C"])
    assert float(run.data.params["model.C"]) == pytest.approx(best["C"])  # the challenger is the best trial's
    children = c.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert len(children) == 8 and all(ch.data.tags["mlops.trial_state"] == "complete" for ch in children)
    assert all("validation_roc_auc" in ch.data.metrics for ch in children)
    artifacts = {a.path for a in c.list_artifacts(result.run_id, "search")}
    assert artifacts == {"search/history.png", "search/trials.json"}
    version = c.get_model_version("cancer-model", result.version)
    assert version.tags["mlops.search"].startswith("8 trials") and version.run_id == result.run_id


BOOSTED = (
    "  early_stopping_rounds: 10\n"
    "  search: {trials: 12, parallel: 2, seed: 11, pruner: {startup_trials: 4, warmup_steps: 5}, space: "
    "{learning_rate: {type: float, low: 0.002, high: 0.5, log: true}, num_leaves: {type: int, low: 4, high: 40}}}\n"
)


def _boosted(project: Path) -> Path:
    """The project's spec searching LightGBM (its text target, benign/malignant, kept as it is)."""
    return _searching(
        project, BOOSTED, "{n_estimators: 150, min_child_samples: 5}", "lightgbm.LGBMClassifier", "boosted"
    )


def test_a_lightgbm_search_prunes_and_its_pruned_trials_are_recorded_as_such(project: Path) -> None:
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from mlops.settings import get_settings

    result = retrain(str(_boosted(project)))
    headline = result.search[0]
    pruned = int(headline.split(" pruned")[0].rsplit(" ", 1)[1])
    assert pruned >= 1 and headline.startswith("Search: 12 trials (") and "0 failed" in headline, headline
    c = MlflowClient(get_settings().tracking_uri)
    run = c.get_run(result.run_id)
    assert run.data.metrics["search_trials_pruned"] == pruned
    children = c.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    stopped = [ch for ch in children if ch.data.tags["mlops.trial_state"] == "pruned"]
    assert len(stopped) == pruned and all(ch.info.status == "KILLED" for ch in stopped)
    assert all(ch.data.metrics["pruned_at_round"] >= 5 and "validation_roc_auc" not in ch.data.metrics
               for ch in stopped)  # fmt: skip
    trials = json.loads(
        Path(c.download_artifacts(result.run_id, "search/trials.json", str(project))).read_text()
    )
    assert [t["number"] for t in trials["trials"] if t["state"] == "pruned"] == sorted(
        int(ch.info.run_name.split("-")[1]) for ch in stopped
    )
    assert all(
        t["number"] >= 7 for t in trials["trials"] if t["state"] == "pruned"
    )  # trial n is held to the complete trials among 0..n-4 (2 * parallel): the 4 startup ones ran out at 7
    assert result.challenger_metrics["roc_auc"] > 0.9  # the best trial, refitted with early stopping


def test_poisoning_the_holdout_leaves_the_search_unchanged(project: Path) -> None:
    from flows.retrain import retrain
    from mlops.spec import load_spec
    from tasks import data

    # four trials on two threads (the tracked search above has eight on four): the subject is the holdout, not the size
    spec = _searching(project, SEARCH.replace("trials: 8, parallel: 4", "trials: 4, parallel: 2"))
    clean = retrain(str(spec))
    assert clean.search[0].startswith("Search: 4 trials (4 complete"), clean.search
    loaded = load_spec(spec)
    holdout_ids = set(data.split(data.load(loaded), loaded).holdout["row_id"])
    csv = project / "data" / "cancer.csv"
    frame = pd.read_csv(csv)
    held = frame["row_id"].isin(holdout_ids)
    flipped = {"benign": "malignant", "malignant": "benign"}
    frame.loc[held, "target"] = frame.loc[held, "target"].map(flipped)  # every holdout label wrong
    frame.loc[held, "mean_texture"] = (
        frame.loc[held, "mean_texture"].sample(frac=1, random_state=0).to_numpy()
    )
    frame.to_csv(csv, index=False)
    poisoned = retrain(str(spec))

    assert (
        clean.search == poisoned.search
    )  # the same trials, the same best values, the same validation scores
    assert (
        poisoned.challenger_metrics["roc_auc"] < 0.5 < clean.challenger_metrics["roc_auc"]
    )  # it was poisoned


SLOW = (
    "  search: {trials: 10, parallel: 2, seed: 5, space: {n_estimators: {type: int, low: 150, high: 300}, "
    "max_depth: {type: int, low: 2, high: 8}}}\n"
)


def test_a_retrain_sigkilled_mid_search_resumes_with_its_finished_trials(
    project: Path, prefect_harness: str, isolated_home: Path
) -> None:
    from flows.retrain import retrain

    spec = _searching(project, SLOW, params="{n_jobs: 1}")
    spec.write_text(spec.read_text().replace("sklearn.linear_model.LogisticRegression",
                                             "sklearn.ensemble.RandomForestClassifier"))  # fmt: skip
    env = {**os.environ, "MLOPS_HOME": str(isolated_home), "PREFECT_API_URL": prefect_harness}
    child = subprocess.Popen(
        [sys.executable, "-c", f"from flows.retrain import retrain; retrain({str(spec)!r})"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    finished = 0
    try:
        deadline = time.monotonic() + 300
        while finished < 2 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
            finished = _complete_trials(isolated_home / "search.db")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # told, or whose fit had ended (its result written on it, its score not yet told: the draws lag the scores)
    finished = _complete_trials(isolated_home / "search.db", ended=True)
    assert 2 <= finished < 10, "the search was not killed mid-way"

    state = retrain(str(spec), return_state=True)
    result = state.result()
    assert f"{finished} finished by an earlier run, not redone" in result.search[0]
    assert result.search[0].startswith("Search: 10 trials (10 complete")
    assert _task_runs(state.state_details.flow_run_id, "search-trial") == 10 - finished


def _complete_trials(db: Path, ended: bool = False) -> int:
    if not db.exists():
        return 0
    query = "select count(*) from trials t where t.state = 'COMPLETE'"
    if ended:
        query += (" or (t.state = 'RUNNING' and exists (select 1 from trial_user_attributes a where "
                  "a.trial_id = t.trial_id and a.key = 'fit_seconds'))")  # fmt: skip
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:  # the schema is being created
        return 0


def test_the_same_seed_and_data_give_the_same_search_on_threads_and_on_dask(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster
    from prefect import flow

    from mlops.settings import get_settings
    from mlops.spec import load_spec
    from tasks import data, parallel, search, steps, train

    loaded = load_spec(
        _searching(project, SEARCH.replace("trials: 8, parallel: 4", "trials: 6, parallel: 3"))
    )
    spec = loaded.spec
    assert spec.model.search is not None
    space = spec.model.search

    @flow
    def searching(name: str) -> Any:
        parts = data.split(data.load(loaded), loaded)
        shared = train.FitData.of(
            data.validation_split(parts, loaded), parts.features, spec
        )  # target, seed 3, roc_auc
        return search.run_search(
            space, name=name, storage=get_settings().search_storage_url, metric="roc_auc", direction="maximize",
            seed=11, fitter=parallel.trial_fitter(steps.fit_trial, shared, spec.model, space.parallel),
        )  # fmt: skip

    boosted = load_spec(
        _boosted(project)
    ).spec  # LightGBM with early stopping and pruning: same trials, pruned alike
    assert boosted.model.search is not None

    @flow
    def boosting(name: str) -> Any:
        parts = data.split(data.load(loaded), loaded)
        shared = train.FitData.of(
            data.validation_split(parts, loaded), parts.features, boosted
        )  # target, 3, roc_auc
        return search.run_search(
            boosted.model.search, name=name, storage=get_settings().search_storage_url, metric="roc_auc",
            direction="maximize", seed=11, pruner=boosted.model.pruner(),
            fitter=parallel.trial_fitter(steps.fit_trial, shared, boosted.model, boosted.model.search.parallel),
        )  # fmt: skip

    monkeypatch.delenv("MLOPS_DASK_ADDRESS", raising=False)
    threads, boosted_threads = searching("on-threads"), boosting("boosted-on-threads")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv("MLOPS_DASK_ADDRESS", cluster.scheduler_address)
        on_dask, boosted_dask = searching("on-dask"), boosting("boosted-on-dask")
    assert boosted_threads.counts()["pruned"] >= 1, boosted_threads.headline()
    assert [(t.params, t.state, t.value, t.pruned_at) for t in boosted_dask.trials] == [
        (t.params, t.state, t.value, t.pruned_at) for t in boosted_threads.trials
    ]
    assert threads.ran_on == "6 fits on 3 threads"
    assert on_dask.ran_on == f"6 fits on Dask {cluster.scheduler_address}"
    assert [(t.params, t.value) for t in on_dask.trials] == [(t.params, t.value) for t in threads.trials]
    assert (on_dask.best.number, on_dask.best.params) == (threads.best.number, threads.best.params)
    assert len({t.value for t in threads.trials}) > 1  # six different models, not one result six times
