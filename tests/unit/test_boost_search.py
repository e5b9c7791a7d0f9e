"""model.search with LightGBM, XGBoost and CatBoost (issue 27), with the real libraries and Optuna, without Prefect: trials
fitted with early stopping and native categories, pruned by the median rule (the same decisions as Optuna's own
MedianPruner) reproducibly and across a resume; the libraries' parameter aliases pointed to the scikit-learn
names; XGBClassifier's 0..k-1 classes refused with a message rather than decoded wrongly."""

from __future__ import annotations

import math
import random
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops.errors import DataError
from mlops.pruning import median_rule
from mlops.spec.schema import Model, Search
from tasks import train
from tasks.data import SplitData
from tasks.search import Fitter, Pending, TrialFit, run_search
from tests.unit.test_boost_train import FEATURES, NATIVE, frame

LGBM, XGB, CAT = "lightgbm.LGBMClassifier", "xgboost.XGBClassifier", "catboost.CatBoostClassifier"


# --- the median rule is Optuna's MedianPruner ---------------------------------------------------------------------


def test_the_median_rule_prunes_where_optunas_median_pruner_prunes() -> None:
    """Random loss curves of unequal lengths (some NaN): at every step of every new trial, mlops.pruning's verdict
    is what optuna.pruners.MedianPruner says with the same complete trials in a study."""
    import optuna

    rnd = random.Random(5)

    def curve(n: int) -> list[float]:
        base = rnd.uniform(0.3, 0.7)
        return [
            math.nan if rnd.random() < 0.05 else base - 0.1 * math.log1p(s) + rnd.gauss(0, 0.02)
            for s in range(n)
        ]

    for startup, warmup in [(0, 0), (3, 2), (5, 4), (8, 0)]:
        complete = [curve(rnd.randint(5, 30)) for _ in range(6)]
        study = optuna.create_study(direction="minimize", pruner=optuna.pruners.MedianPruner(startup, warmup))
        for c in complete:
            study.add_trial(
                optuna.trial.create_trial(value=0.0, intermediate_values={s: v for s, v in enumerate(c)})
            )
        rule = median_rule(complete, startup_trials=startup, warmup_steps=warmup)
        compared = 0
        for _ in range(20):
            new = curve(rnd.randint(1, 35))
            for step in range(len(new)):
                seen = {s: v for s, v in enumerate(new[: step + 1])}
                frozen = optuna.trial.create_trial(
                    state=optuna.trial.TrialState.RUNNING, intermediate_values=seen
                )
                theirs = study.pruner.prune(study, frozen)
                best = (
                    float(np.nanmin(list(seen.values())))
                    if not all(map(math.isnan, seen.values()))
                    else math.nan
                )
                ours = rule.prunes(step, best) if rule is not None else False
                assert ours == theirs, (startup, warmup, step, seen)
                compared += 1
        assert compared > 100


def test_no_rule_until_the_startup_trials_are_complete() -> None:
    assert median_rule([[0.5, 0.4]] * 4, startup_trials=5, warmup_steps=0) is None
    rule = median_rule([[0.5, 0.4], [0.7, 0.2], [0.6]], startup_trials=3, warmup_steps=1)
    assert rule is not None and rule.medians == (0.6, 0.30000000000000004)
    assert not rule.prunes(0, 0.9)  # warming up
    assert rule.prunes(1, 0.35) and not rule.prunes(1, 0.25) and not rule.prunes(2, 9.0)  # past every curve


# --- the spec --------------------------------------------------------------------------------------------------------


def test_the_pruner_defaults_to_the_median_rule_for_boosters_only_and_is_refused_where_nothing_reports() -> (
    None
):
    search = {"trials": 4, "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.3}}}
    booster = Model(task="classification", estimator=LGBM, search=search)
    pruner = booster.pruner()
    assert pruner is not None and (pruner.kind, pruner.startup_trials, pruner.warmup_steps) == (
        "median",
        5,
        10,
    )
    off = Model(task="classification", estimator=LGBM, search={**search, "pruner": {"kind": "none"}})
    assert off.pruner() is None
    hgb = "sklearn.ensemble.HistGradientBoostingClassifier"
    assert Model(task="classification", estimator=hgb, search=search).pruner() is None
    with pytest.raises(ValueError, match="pruning needs an estimator that reports its validation loss"):
        Model(task="classification", estimator=hgb, search={**search, "pruner": {"kind": "median"}})


@pytest.mark.parametrize(
    ("estimator", "name", "meant"),
    [
        (LGBM, "max_leaves", "num_leaves"),
        (LGBM, "eta", "learning_rate"),
        (LGBM, "min_data_in_leaf", "min_child_samples"),
        (LGBM, "num_iterations", "n_estimators"),
        (LGBM, "feature_fraction", "colsample_bytree"),
        (XGB, "eta", "learning_rate"),
        (XGB, "num_leaves", "max_leaves"),
        (XGB, "lambda", "reg_lambda"),
        ("xgboost.XGBRegressor", "num_boost_round", "n_estimators"),
        # CatBoost's constructor takes both names of each: the spec takes the one LightGBM and XGBoost use
        (CAT, "iterations", "n_estimators"),
        ("catboost.CatBoostRegressor", "num_trees", "n_estimators"),
        (CAT, "eta", "learning_rate"),
        (CAT, "depth", "max_depth"),
        (CAT, "l2_leaf_reg", "reg_lambda"),
        (CAT, "random_seed", "random_state"),
        (CAT, "rsm", "colsample_bylevel"),
        (CAT, "min_data_in_leaf", "min_child_samples"),
        (CAT, "num_leaves", "max_leaves"),
        (CAT, "logging_level", "verbose"),
        (CAT, "n_jobs", "thread_count"),  # not a CatBoost parameter at all: its name for it
    ],
)
def test_a_librarys_own_alias_is_pointed_to_the_scikit_learn_name(
    estimator: str, name: str, meant: str
) -> None:
    (problem,) = train.param_problems("s.yaml", estimator, {name: 1})
    assert problem.path == f"model.params.{name}" and problem.hint == f"did you mean '{meant}'?", problem
    assert "another name for a parameter" in problem.message
    space = Search.model_validate(
        {"trials": 3, "space": {name: {"type": "float", "low": 0.1, "high": 0.9}}}
    ).space
    (searched,) = train.search_problems("s.yaml", estimator, {}, space)
    assert searched.path == f"model.search.space.{name}" and searched.hint == f"did you mean '{meant}'?"


@pytest.mark.parametrize(
    ("estimator", "name"), [(LGBM, "early_stopping_rounds"), (XGB, "early_stopping_rounds"),
                            (CAT, "early_stopping_rounds"), (CAT, "od_wait"), (CAT, "eval_fraction")],
)  # fmt: skip
def test_early_stopping_as_a_param_is_pointed_to_model_early_stopping_rounds(
    estimator: str, name: str
) -> None:
    """XGBoost's and CatBoost's constructors take early_stopping_rounds, but it needs an eval set only the spec's own
    key cuts (CatBoost's eval_fraction would cut a random one, whatever the split)."""
    (problem,) = train.param_problems("s.yaml", estimator, {name: 10})
    assert "set model.early_stopping_rounds: N beside model.params" in problem.hint


def test_the_real_names_still_pass() -> None:
    assert train.param_problems("s.yaml", LGBM, {"num_leaves": 31, "min_child_samples": 20}) == []
    assert train.param_problems("s.yaml", XGB, {"max_leaves": 31, "gamma": 0.1, "reg_lambda": 1.0}) == []
    chosen = {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 6, "reg_lambda": 3.0, "random_state": 1,
              "colsample_bylevel": 0.8, "objective": "Logloss", "verbose": 0, "thread_count": 2}  # fmt: skip
    assert train.param_problems("s.yaml", CAT, chosen) == []


def test_catboosts_parameters_come_from_its_constructor_less_its_aliases() -> None:
    """CatBoost's get_params() holds only the params set: the check takes the constructor's signature instead, so
    an unknown name still gets the closest valid one, never an alias."""
    from catboost import CatBoostClassifier

    assert CatBoostClassifier().get_params() == {}
    valid = train.constructor_params(CAT)
    assert {"n_estimators", "max_depth", "learning_rate", "one_hot_max_size", "cat_features"} <= set(valid)
    assert not {"iterations", "depth", "eta", "od_wait"} & set(valid)
    (problem,) = train.param_problems("s.yaml", CAT, {"max_dpeth": 4})
    assert problem.hint == "did you mean 'max_depth'?"
    (problem,) = train.param_problems("s.yaml", CAT, {"one_hot_max_sise": 4})
    assert problem.hint == "did you mean 'one_hot_max_size'?"
    for estimator in (LGBM, XGB):  # the others' names are their get_params(), as before
        assert set(train.constructor_params(estimator)) == set(
            train.estimator_class(estimator)().get_params()
        ) - {"early_stopping_rounds"}


# --- XGBClassifier's classes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        ({0: "benign", 1: "malignant"}, "'benign', 'malignant'"),
        ({0: 1, 1: 2}, "1, 2"),
        ({0: 0, 1: 3}, "0, 3"),
    ],
)
def test_xgboost_refuses_a_target_it_would_answer_with_codes_for(labels: dict[int, Any], shown: str) -> None:
    worded = frame(600, 0).assign(y=lambda f: f["y"].map(labels))
    spec = Model(task="classification", estimator=XGB, params={"n_estimators": 5}, preprocessing=NATIVE)
    with pytest.raises(DataError) as caught:
        train.train(SplitData(worded, worded, FEATURES, "sha", "t"), spec, "y", 3)
    said = str(caught.value)
    assert f"holds the classes {shown}" in said and "map the target to 0..k-1" in said, said
    assert "lightgbm.LGBMClassifier, which keeps any labels" in said


def test_xgboost_takes_codes_and_booleans() -> None:
    spec = Model(task="classification", estimator=XGB, params={"n_estimators": 5}, preprocessing=NATIVE)
    coded = frame(600, 0)
    for target in (coded, coded.assign(y=coded["y"].astype(bool))):
        fitted = train.train(SplitData(target, target, FEATURES, "sha", "t"), spec, "y", 3)
        assert set(fitted.model.predict(target[FEATURES.all])) <= {0, 1}  # True == 1


# --- a search with the boosters --------------------------------------------------------------------------------------

SPACE = {
    "learning_rate": {"type": "float", "low": 0.003, "high": 0.5, "log": True},
    "num_leaves": {"type": "int", "low": 4, "high": 40},
}


def _booster_search(
    estimator: str, storage: str, die_after: int | None = None, labels: dict[int, Any] | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    """An 8-trial search, 2 at a time (the draws lag the told scores by 4: trial 7 is the first held to a rule),
    fitted in this process by tasks.train.fit_trial (what each Prefect task run
    does), with early stopping and native categories; after `die_after` fits started, it dies."""
    leaves = {LGBM: "num_leaves", XGB: "max_leaves", CAT: "max_depth"}[estimator]  # CatBoost: symmetric trees
    space = {"learning_rate": SPACE["learning_rate"],
             leaves: {"type": "int", "low": 2, "high": 6} if estimator == CAT else SPACE["num_leaves"]}  # fmt: skip
    search = {"trials": 8, "parallel": 2, "space": space, "pruner": {"startup_trials": 4, "warmup_steps": 5}}
    model = Model(task="classification", estimator=estimator, params={"n_estimators": 100},
                  preprocessing=NATIVE, early_stopping_rounds=10, search=search)  # fmt: skip
    rows = frame(1600, 0)
    if labels:
        rows = rows.assign(y=rows["y"].map(labels))
    shared = train.FitData(rows.iloc[:1200], rows.iloc[1200:], FEATURES, "y", 3, "roc_auc")
    fitted: list[dict[str, Any]] = []

    def submit(values: dict[str, Any], rule: Any) -> Pending:
        if die_after is not None and len(fitted) >= die_after:
            raise KeyboardInterrupt
        fitted.append(values)
        r = train.fit_trial(shared, train.trial_models(model, [values])[0], rule)
        fit: TrialFit = (r.value, r.fit_seconds, r.error, r.curve, r.pruned_at)
        return lambda: fit

    assert model.search is not None
    outcome = run_search(model.search, name="b", storage=storage, metric="roc_auc", direction="maximize",
                         seed=7, fitter=nullcontext(Fitter(submit, "on 1 thread")), pruner=model.pruner())  # fmt: skip
    return outcome, fitted


@pytest.mark.parametrize("estimator", [LGBM, XGB, CAT])
def test_a_booster_search_stops_early_prunes_and_is_reproducible(tmp_path: Path, estimator: str) -> None:
    first, _ = _booster_search(estimator, f"sqlite:///{tmp_path}/a.db")
    counts = first.counts()
    assert counts["pruned"] >= 1 and counts["failed"] == 0, first.headline()
    assert f"{counts['pruned']} pruned" in first.headline()
    pruned = [t for t in first.trials if t.state == "pruned"]
    assert all(
        t.number >= 4 and t.pruned_at is not None and t.pruned_at >= 5 for t in pruned
    )  # startup, warmup
    assert first.best.value is not None and first.best.value > 0.8  # categories learnt natively
    # again, from scratch; LightGBM on a text target this time (trials see its codes): nothing changes
    worded = {0: "no", 1: "yes"} if estimator == LGBM else None
    again, _ = _booster_search(estimator, f"sqlite:///{tmp_path}/b.db", labels=worded)
    assert [(t.params, t.state, t.value, t.pruned_at) for t in again.trials] == [
        (t.params, t.state, t.value, t.pruned_at) for t in first.trials
    ]


def test_a_killed_booster_search_resumes_to_the_same_trials_pruned_alike(tmp_path: Path) -> None:
    whole, _ = _booster_search(LGBM, f"sqlite:///{tmp_path}/whole.db")
    storage = f"sqlite:///{tmp_path}/killed.db"
    with pytest.raises(KeyboardInterrupt):
        # 5 fits started, 2 at a time: trials 0-1 told, 2-4 started and never told (the ones whose fits ended
        # have their results written on them), 5 asked and never started
        _booster_search(LGBM, storage, die_after=5)
    import optuna

    killed = optuna.load_study(study_name="b", storage=storage).get_trials()
    assert [t.number for t in killed if t.state.is_finished()] == [0, 1]
    ended = [
        t for t in killed if t.state == optuna.trial.TrialState.RUNNING and "fit_seconds" in t.user_attrs
    ]
    resumed, refitted = _booster_search(LGBM, storage)
    assert len(refitted) == 8 - 2 - len(ended)  # the ones running when it died, then the rest
    assert [(t.params, t.state, t.pruned_at) for t in resumed.trials] == [
        (t.params, t.state, t.pruned_at) for t in whole.trials
    ]
