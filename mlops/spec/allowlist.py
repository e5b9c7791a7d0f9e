"""The problem of an estimator a spec names off the allowlist: the nearest allowed name, the allowed ones for the
task, and how to allow another (specs name classes from mlops/catalog.py, never code)."""

from __future__ import annotations

from mlops.catalog import ESTIMATORS
from mlops.errors import Problem
from mlops.text import did_you_mean


def unknown_estimator(file: str, value: str, task: str) -> Problem:
    """`value` is not in ESTIMATORS: suggest the allowed class closest by name (a misspelt class, or the right
    class under another module), and list the task's estimators."""
    allowed = [e for e in ESTIMATORS if ESTIMATORS[e] == task] or list(ESTIMATORS)
    by_class = {e.rsplit(".", 1)[-1]: e for e in ESTIMATORS}
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
