"""`mlops validate`: each stattest named in monitoring.column_methods must be one Evidently knows, else the first
monitor run would stop on it. Evidently is read through tasks.drift, the one module that imports it."""

from __future__ import annotations

from typing import Any

from mlops.errors import Problem
from mlops.text import did_you_mean


def stattest_problems(file: str, spec: Any) -> list[Problem]:
    """Unknown stattests in column_methods, and column thresholds that the column's test cannot use."""
    methods: dict[str, str] = dict(spec.monitoring.column_methods)
    if not methods:
        return threshold_problems(file, spec)  # no Evidently import for the common case
    from tasks.drift import known_stattests

    known = known_stattests()
    if not known:  # Evidently's registry moved: the monitor's own error still names column_methods
        return threshold_problems(file, spec)
    out = []
    for column, method in methods.items():
        if method in known:
            continue
        guess = did_you_mean(method, known)
        hint = f"did you mean '{guess}'?" if guess else "Evidently's stattests: " + ", ".join(known)
        out.append(
            Problem(
                file, f"monitoring.column_methods.{column}", f"'{method}' is not an Evidently stattest", hint
            )
        )
    return out + threshold_problems(file, spec)


# Distances that can exceed 1 (a normed Wasserstein distance of 2 is a shift of two standard deviations); p-values
# and the other distances lie in [0, 1], where a threshold above 1 makes a column always or never drifted.
UNBOUNDED = ("wasserstein", "kl_div", "psi", "ed")


def threshold_problems(file: str, spec: Any) -> list[Problem]:
    methods: dict[str, str] = dict(spec.monitoring.column_methods)
    out = []
    for column, threshold in spec.monitoring.column_thresholds.items():
        if threshold <= 1 or methods.get(column) in UNBOUNDED:
            continue
        named = (
            f"its test '{methods[column]}' scores from 0 to 1"
            if column in methods
            else "no test is named for it (Evidently's choice by type and size scores from 0 to 1 for small "
            "samples and categories)"
        )
        out.append(
            Problem(
                file,
                f"monitoring.column_thresholds.{column}",
                f"{threshold:g} is above 1, but {named}: the column would always or never count as drifted",
                "give a threshold between 0 and 1, or name an unbounded distance for the column in "
                f"monitoring.column_methods ({', '.join(UNBOUNDED)})",
            )
        )
    return out
