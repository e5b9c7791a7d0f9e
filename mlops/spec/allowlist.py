"""The problem of an estimator a spec names off the allowlist: the nearest allowed name, the allowed ones for the
task, and how to allow another (specs name classes from mlops/catalog.py, never code)."""

from __future__ import annotations

from mlops.catalog import OPTIONAL_ESTIMATORS, estimators, missing_extra
from mlops.errors import Problem
from mlops.text import did_you_mean


def unknown_estimator(file: str, value: str, task: str) -> Problem:
    """`value` is not in the catalog here: an estimator of an optional extra that is not installed says which extra
    to install; anything else gets the allowed class closest by name (a misspelt class, or the right class under
    another module), and the task's estimators."""
    extra = missing_extra(value)
    if extra is not None:
        return missing_extra_problem(file, value, extra)
    known = estimators()
    allowed = [e for e in known if known[e] == task] or list(known)
    by_class = {e.rsplit(".", 1)[-1]: e for e in known}
    # by class name: the shared 'sklearn.' prefix would make any two import paths look alike
    guess = by_class.get(did_you_mean(value.rsplit(".", 1)[-1], list(by_class)) or "")
    near = f"did you mean '{guess}'? " if guess else ""
    return Problem(
        file,
        "model.estimator",
        f"'{value}' is not an allowed estimator",
        f"{near}expected one of the allowed {task} estimators: {', '.join(allowed)}. Specs name classes from this list, never code: "
        "to allow another scikit-learn estimator, add its import path and task to ESTIMATORS in mlops/catalog.py",
    )


def missing_extra_problem(file: str, value: str, extra: str) -> Problem:
    """A catalog estimator whose library is not installed: which extra brings it, and the alternative."""
    library = value.split(".", 1)[0]
    task = OPTIONAL_ESTIMATORS[value][0]
    return Problem(
        file,
        "model.estimator",
        f"'{value}' needs the optional '{extra}' extra, and {library} is not installed in this environment",
        f'install it with `pip install -e ".[{extra}]"` (or `pip install "mlops-pipelines[{extra}]"`) here and on '
        f"every machine that trains or loads this model, then validate again; or name a scikit-learn {task} "
        "estimator instead, e.g. "
        + (
            "sklearn.ensemble.HistGradientBoostingClassifier"
            if task == "classification"
            else "sklearn.ensemble.HistGradientBoostingRegressor"
        ),
    )
