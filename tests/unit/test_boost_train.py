"""LightGBM, XGBoost and CatBoost through tasks.train (issue 27), on small generated data with the real libraries: native
categorical columns and missing values, early stopping on a validation part of the training rows that never
reads the holdout, and what the logged model needs to load again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops.spec.schema import Model
from tasks import train
from tasks.data import Features, SplitData

FEATURES = Features(["a", "b"], ["c"])
NATIVE = {"categorical": {"encoding": "native", "max_categories": None}, "numeric": {"impute": "none"}}


def frame(n: int, seed: int) -> pd.DataFrame:
    """The label depends on a set of categories that is not an interval of their codes, and on `b`; a seventh of
    `a` and an eleventh of `c` are missing."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("pqrstuvw"), n)}
    )
    out.loc[::7, "a"] = np.nan
    out.loc[::11, "c"] = None
    noise = rng.random(n) < 0.1
    out["y"] = (out["c"].isin(["p", "s", "w"]) ^ (out["b"] > 0.5) ^ noise).astype(int)
    return out


def parts(holdout: pd.DataFrame | None = None) -> SplitData:
    return SplitData(frame(3000, 0), frame(1000, 1) if holdout is None else holdout, FEATURES, "sha", "test")


def model(estimator: str, **update: object) -> Model:
    return Model(task="classification", estimator=estimator, params={}, preprocessing=NATIVE).model_copy(
        update=update
    )


CAT = "catboost.CatBoostClassifier"


@pytest.mark.parametrize("estimator", ["lightgbm.LGBMClassifier", "xgboost.XGBClassifier", CAT])
def test_native_categories_and_missing_values_reach_the_library(estimator: str) -> None:
    spec = model(estimator, params={"n_estimators": 60} if estimator == CAT else {})
    fitted = train.train(parts(), spec, "y", 3)
    booster = fitted.model[-1]
    if estimator == CAT:
        # the categories' codes as integers (CatBoost refuses floats and NaN there), numeric nulls left as NaN
        assert booster.get_cat_feature_indices() == [2]
        given = fitted.model[0].transform(frame(70, 2)[FEATURES.all])
        assert str(given["c"].dtype) == "int64" and given["a"].isna().sum() == 10
    elif estimator.startswith("lightgbm"):
        dump = booster.booster_.dump_model()
        kinds = {
            node["decision_type"] for tree in dump["tree_info"] for node in _nodes(tree["tree_structure"])
        }
        assert "==" in kinds  # a split on a set of categories
    else:
        assert booster.get_booster().feature_types == ["q", "q", "c"]
    assert fitted.metrics["roc_auc"] > 0.85, fitted.metrics  # the categories' set is learnt, nulls and all
    unseen = frame(50, 2).assign(c="never seen")  # an unknown category is missing, not an error
    assert train.predict(fitted.model, unseen, FEATURES.all, "classification")["prediction"].notna().all()


def _nodes(node: dict) -> list[dict]:
    if "decision_type" not in node:
        return []
    return [node, *_nodes(node["left_child"]), *_nodes(node["right_child"])]


@pytest.mark.parametrize("estimator", ["lightgbm.LGBMClassifier", "xgboost.XGBClassifier", CAT])
def test_early_stopping_counts_trees_on_training_rows_and_never_reads_the_holdout(estimator: str) -> None:
    spec = model(estimator, params={"n_estimators": 400, "learning_rate": 0.3}, early_stopping_rounds=5)
    training = frame(3000, 0)
    validation = (training.iloc[:2400], training.iloc[2400:])
    fitted = train.train(parts(), spec, "y", 3, validation=validation)
    trees = fitted.model[-1].get_params()["n_estimators"]  # CatBoost keeps its params in get_params() only
    assert 1 <= trees < 400, trees  # it stopped, and the model was refitted with that many trees
    assert fitted.params["model.n_estimators"] == trees
    poisoned = frame(1000, 1).assign(y=lambda f: 1 - f["y"], b=np.nan)  # labels flipped, a feature gone
    again = train.train(parts(poisoned), spec, "y", 3, validation=validation)
    assert again.model[-1].get_params()["n_estimators"] == trees  # the holdout played no part in choosing it
    probe = np.asarray(fitted.model.predict_proba(training[FEATURES.all]))
    assert np.array_equal(probe, again.model.predict_proba(training[FEATURES.all]))


def test_early_stopping_without_a_validation_part_is_refused_not_skipped() -> None:
    from mlops.errors import DataError

    with pytest.raises(DataError, match="validation part"):
        train.train(parts(), model("lightgbm.LGBMClassifier", early_stopping_rounds=5), "y", 3)


def test_the_logged_model_requires_the_boosting_library_it_was_fitted_with() -> None:
    from importlib import metadata

    from tasks.tracking.runs import PIP_REQUIREMENTS, pip_requirements

    lgbm = train.train(parts(), model("lightgbm.LGBMClassifier"), "y", 3).model
    major = int(metadata.version("lightgbm").split(".")[0])
    assert pip_requirements(lgbm) == [
        *PIP_REQUIREMENTS,
        f"lightgbm>={metadata.version('lightgbm')},<{major + 1}",
    ]
    xgb = train.train(parts(), model("xgboost.XGBClassifier"), "y", 3).model
    assert pip_requirements(xgb)[-1].startswith(("xgboost-cpu>=", "xgboost>="))
    cat = train.train(parts(), model(CAT, params={"n_estimators": 5}), "y", 3).model
    major = int(metadata.version("catboost").split(".")[0])
    assert pip_requirements(cat)[-1] == f"catboost>={metadata.version('catboost')},<{major + 1}"
    hgb = train.train(parts(), model("sklearn.ensemble.HistGradientBoostingClassifier"), "y", 3).model
    assert pip_requirements(hgb) == PIP_REQUIREMENTS


@pytest.mark.parametrize(
    "estimator", ["lightgbm.LGBMClassifier", "xgboost.XGBRegressor", "catboost.CatBoostRegressor"]
)
def test_the_spec_check_takes_their_params_and_names_the_closest_to_an_unknown_one(estimator: str) -> None:
    from tasks.train import param_problems

    assert param_problems("s.yaml", estimator, {"n_estimators": 500, "learning_rate": 0.05}) == []
    (problem,) = param_problems("s.yaml", estimator, {"n_estimator": 500})
    assert problem.path == "model.params.n_estimator" and "did you mean 'n_estimators'?" in problem.hint


@pytest.mark.parametrize("estimator", ["lightgbm.LGBMClassifier", CAT])
def test_lightgbm_stops_early_on_text_labels(estimator: str) -> None:
    """The probe's eval set takes codes: LightGBM does not encode text labels there ('pandas dtypes must be int,
    float or bool', found by `mlops init` on a text target); CatBoost keeps the labels of its refit."""
    worded = frame(3000, 0).assign(y=lambda f: f["y"].map({0: "benign", 1: "malignant"}))
    held = frame(1000, 1).assign(y=lambda f: f["y"].map({0: "benign", 1: "malignant"}))
    spec = model(estimator, params={"n_estimators": 400, "learning_rate": 0.3}, early_stopping_rounds=5)
    fitted = train.train(
        SplitData(worded, held, FEATURES, "sha", "test"),
        spec,
        "y",
        3,
        validation=(worded.iloc[:2400], worded.iloc[2400:]),
    )
    assert 1 <= fitted.model[-1].get_params()["n_estimators"] < 400
    assert set(np.ravel(fitted.model.predict(held[FEATURES.all]))) <= {"benign", "malignant"}
    assert fitted.metrics["roc_auc"] > 0.85, fitted.metrics


# --- CatBoost ------------------------------------------------------------------------------------------------------


def test_catboost_is_quiet_writes_nothing_and_takes_its_seed_from_the_split(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """CatBoost prints a line per round and writes catboost_info/ in the working directory by default; its
    get_params() holds only the params set, so the seed is set from the constructor's signature."""
    import os

    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    spec = model(CAT, params={"n_estimators": 30, "learning_rate": 0.3}, early_stopping_rounds=5)
    training = frame(1500, 0)
    fitted = train.train(parts(), spec, "y", 3, validation=(training.iloc[:1200], training.iloc[1200:]))
    assert os.listdir(tmp_path) == []  # type: ignore[arg-type]
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    params = fitted.model[-1].get_params()
    assert params["random_state"] == 3 and params["verbose"] == 0 and params["allow_writing_files"] is False
    assert params["thread_count"] == len(os.sched_getaffinity(0))
    assert fitted.params["model.random_state"] == 3  # on the run
    mine = train.train(
        parts(), model(CAT, params={"n_estimators": 5, "random_state": 11, "thread_count": 1}), "y", 3
    )
    assert (
        mine.model[-1].get_params()["random_state"] == 11 and mine.model[-1].get_params()["thread_count"] == 1
    )


def test_a_catboost_regressor_round_trips_through_skops_trusting_only_its_own_type() -> None:
    """What the model's MLmodel file trusts (tasks.tracking.runs._own_types): the regressor and numpy's dtype (the
    preprocessing's, as for every model here), and nothing else; the loaded model predicts the same values."""
    import skops.io

    rows = frame(1500, 0).assign(y=lambda f: 2 * f["b"] + f["c"].isin(["p", "s"]) + f["a"].fillna(0))
    spec = Model(task="regression", estimator="catboost.CatBoostRegressor", params={"n_estimators": 40},
                 preprocessing=NATIVE)  # fmt: skip
    fitted = train.train(SplitData(rows.iloc[:1200], rows.iloc[1200:], FEATURES, "sha", "t"), spec, "y", 3)
    assert fitted.metrics["r2"] > 0.8, fitted.metrics
    saved = skops.io.dumps(fitted.model)
    trusted = skops.io.get_untrusted_types(data=saved)
    assert sorted(trusted) == ["catboost.core.CatBoostRegressor", "numpy.dtype"]
    loaded = skops.io.loads(saved, trusted=trusted)
    probe = frame(200, 4)[FEATURES.all].assign(c=lambda f: f["c"].where(f.index % 5 > 0, "never seen"))
    assert np.array_equal(loaded.predict(probe), fitted.model.predict(probe))


def test_catboost_refuses_more_than_two_classes_before_fitting() -> None:
    """CatBoostClassifier predicts a (n, 1) column of labels for a multiclass target (pandas refuses it as the
    prediction column): refused with the estimators to use instead, before any fit."""
    from mlops.errors import DataError

    rows = frame(600, 0).assign(y=lambda f: np.where(f["b"] > 0.5, "hi", np.where(f["a"] > 0, "mid", "lo")))
    with pytest.raises(DataError) as caught:
        train.train(
            SplitData(rows, rows, FEATURES, "sha", "t"), model(CAT, params={"n_estimators": 5}), "y", 3
        )
    said = str(caught.value)
    assert "holds 3 classes" in said and "lightgbm.LGBMClassifier" in said, said
