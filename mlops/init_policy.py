"""`mlops init`'s decisions, pure: from the profile of a data file (figures, no pandas) to the task, split, metric
and model of a first pipeline, each with the reason a person reads, and to the GX suite a careful person would
write for that data.

The suite checks what should hold for every future batch, not what happened to hold for this file: column types,
not-null where the data has no nulls, ranges widened by a margin (a non-negative column keeps its floor of 0),
value sets only for columns with few distinct values, a floor on the row count, and the feature columns present
(others may come and go). It does not pin the exact column set (an unlabelled batch has no target), means or
null shares, and nothing on the target stops an unlabelled batch: the monitor leaves out expectations on the
target when a batch has no labels, and rows without a target are `data.max_missing_target_share`'s business.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops.errors import MlopsError

Kind = Literal["numeric", "bool", "text", "time", "other"]

MAX_CLASSES = 20  # a numeric target with more distinct integer values than this is a quantity, not a class
MAX_SET_VALUES = 20  # a text column with more distinct values gets no value set
MAX_NUMERIC_SET_VALUES = 5  # integer codes and flags (sex, a 0/1 flag, a rating) get a value set, not a range
ROWS_PER_SET_VALUE = 10  # a value set needs this many rows per value on average to be believed complete
MIN_STRATIFIED_CLASS_ROWS = 30  # rarer classes may miss the holdout's hash draw: a random split then
MIN_ROWS = 20
HOLDOUT_FRACTION = 0.2
SEED = 42
MARGIN = 0.1  # a range is widened by this share of its span on each side
ROW_COUNT_FLOOR = 30
NUMERIC_TYPES = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
]  # fmt: skip
BOOL_TYPES = ["bool", "boolean", "BooleanDtype"]
TEXT_TYPES = ["str", "StringDtype", "CategoricalDtypeType"]


class InitRefused(MlopsError):
    """The data cannot start a pipeline as asked (no such column, a target with one value, ...)."""

    exit_code = 2


@dataclass(frozen=True)
class ColumnProfile:
    """What `mlops init` needs to know about one column. `values` (sorted, JSON-native) only when the column has
    at most MAX_SET_VALUES distinct values; `smallest` is the rarest value's row count then."""

    name: str
    kind: Kind
    rows: int
    nulls: int = 0
    distinct: int = 0
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    values: list[Any] | None = None
    smallest: int | None = None
    identifier: bool = False  # a row number or a text unique per row: nothing a model can learn from

    @property
    def labelled(self) -> int:
        return self.rows - self.nulls


@dataclass(frozen=True)
class Choice:
    value: str
    why: str


@dataclass(frozen=True)
class Plan:
    task: Choice
    split: Choice
    metric: Choice
    estimator: Choice
    numeric: list[str]
    categorical: list[str]
    left_out: list[Choice] = field(default_factory=list)  # value: column, why: the reason


def spec_name(text: str) -> str:
    """A valid pipeline name from a file name: lowercase, runs of other characters as '-', at most 64."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64].strip("-_")
    return name


def choose_task(target: ColumnProfile) -> Choice:
    """Classification for a target with few distinct values or text; regression for a continuous number."""
    _usable_target(target)
    n, name = target.distinct, target.name
    if target.kind in ("text", "bool"):
        what = "true/false" if target.kind == "bool" else "text"
        return Choice("classification", f"the target '{name}' holds {what} with {n} distinct values")
    if n == 2:
        return Choice("classification", f"the target '{name}' holds 2 distinct values")
    if target.integer and n <= MAX_CLASSES:
        return Choice(
            "classification",
            f"the target '{name}' holds {n} distinct whole numbers (at most {MAX_CLASSES} count as classes)",
        )
    many = "fractional" if not target.integer else f"more than {MAX_CLASSES} distinct"
    return Choice("regression", f"the target '{name}' is a number with {n:,} distinct values ({many})")


def _usable_target(target: ColumnProfile) -> None:
    name = target.name
    if target.kind not in ("numeric", "bool", "text"):
        raise InitRefused(
            f"the target '{name}' holds dates or other values a model cannot predict; choose another --target."
        )
    if target.labelled == 0:
        raise InitRefused(f"the target '{name}' has no values: every row is empty; choose another --target.")
    if target.distinct < 2:
        raise InitRefused(
            f"the target '{name}' holds a single value ({target.values[0] if target.values else '?'!r}); "
            "a model needs at least two; choose another --target or give data with more than one outcome."
        )
    if target.kind == "text" and target.distinct > max(MAX_SET_VALUES, target.labelled // 2):
        raise InitRefused(
            f"the target '{name}' holds text with {target.distinct:,} distinct values in {target.labelled:,} "
            "rows: an identifier or free text, not a class; choose another --target."
        )


def choose_split(task: str, target: ColumnProfile, time_column: str | None) -> Choice:
    """Time when there is a time column (the holdout is the latest data, as production will be); else
    stratified for classification (each class in the holdout), random for regression."""
    if time_column:
        return Choice("time", f"--time-column '{time_column}': the latest {HOLDOUT_FRACTION:.0%} is held out, "
                              "as production will always be later than training")  # fmt: skip
    if task == "regression":
        return Choice(
            "random", f"no time column and a numeric target: a seeded {HOLDOUT_FRACTION:.0%} holdout"
        )
    smallest = target.smallest or 0
    if smallest < MIN_STRATIFIED_CLASS_ROWS:
        return Choice(
            "random",
            f"no time column, and the rarest class has {smallest} rows (fewer than {MIN_STRATIFIED_CLASS_ROWS}): "
            "a stratified split could miss it in the holdout",
        )
    return Choice(
        "stratified",
        f"no time column: a seeded {HOLDOUT_FRACTION:.0%} holdout that must hold every class "
        f"(the rarest has {smallest:,} rows)",
    )


def choose_metric(task: str, target: ColumnProfile) -> Choice:
    if task == "regression":
        return Choice("rmse", "a numeric target: root mean squared error, in the target's own units")
    if target.distinct == 2:
        return Choice("roc_auc", "two classes: ROC AUC ranks the cases whatever the decision threshold")
    return Choice(
        "balanced_accuracy",
        f"{target.distinct} classes: balanced accuracy weighs every class alike, so a rare one counts",
    )


def choose_estimator(task: str) -> Choice:
    kind = "Classifier" if task == "classification" else "Regressor"
    return Choice(
        f"sklearn.ensemble.HistGradientBoosting{kind}",
        "a strong default for tables: non-linear, takes missing values, fast; tune it or pick another later",
    )


def plan(columns: list[ColumnProfile], target: str, time_column: str | None) -> Plan:
    """The whole decision. Raises InitRefused naming the column when the target or time column cannot serve."""
    by_name = {c.name: c for c in columns}
    for option, name in (("--target", target), ("--time-column", time_column)):
        if name is not None and name not in by_name:
            from mlops.text import did_you_mean

            guess = did_you_mean(name, list(by_name))
            hint = f"did you mean '{guess}'?" if guess else "the data has: " + ", ".join(list(by_name)[:20])
            raise InitRefused(f"{option} '{name}' is not a column of the data; {hint}")
    if time_column is not None:
        if time_column == target:
            raise InitRefused("--time-column and --target name the same column; give two different columns.")
        if by_name[time_column].kind != "time":
            raise InitRefused(
                f"--time-column '{time_column}' does not hold dates or times; give a column of ISO dates or "
                "timestamps, or leave the option out."
            )
    rows = columns[0].rows if columns else 0
    if rows < MIN_ROWS:
        raise InitRefused(
            f"the data has {rows} rows; at least {MIN_ROWS} are needed to train and judge a model."
        )
    tgt = by_name[target]
    task = choose_task(tgt)
    numeric, categorical, left_out = [], [], []
    for c in columns:
        if c.name in (target, time_column):
            continue
        if c.identifier:
            left_out.append(Choice(c.name, "an identifier (a different value on every row)"))
        elif c.labelled == 0:
            left_out.append(Choice(c.name, "empty on every row"))
        elif c.kind == "numeric":
            numeric.append(c.name)
        elif c.kind in ("bool", "text"):
            categorical.append(c.name)
        else:
            left_out.append(
                Choice(c.name, "dates or other values: derive features from it, or use --time-column")
            )
    if not numeric and not categorical:
        raise InitRefused(
            f"no column besides the target '{target}' can be a feature; give data with features."
        )
    return Plan(
        task=task,
        split=choose_split(task.value, tgt, time_column),
        metric=choose_metric(task.value, tgt),
        estimator=choose_estimator(task.value),
        numeric=numeric,
        categorical=categorical,
        left_out=left_out,
    )


def spec_document(
    name: str,
    data_path: str,
    kind: str,
    suite_path: str,
    target: ColumnProfile,
    time_column: str | None,
    p: Plan,
) -> dict[str, Any]:
    """The spec as plain data, in the order a person reads it."""
    data: dict[str, Any] = {"source": {"kind": kind, "path": data_path}, "target": target.name}
    if time_column:
        data["time_column"] = time_column
    data["features"] = {"numeric": p.numeric, "categorical": p.categorical}
    data["split"] = {"strategy": p.split.value, "holdout_fraction": HOLDOUT_FRACTION, "seed": SEED}
    missing_share = target.nulls / target.rows if target.rows else 0.0
    if missing_share > 0.1:  # the default; more would stop the very first retrain
        data["max_missing_target_share"] = min(1.0, math.ceil((missing_share + 0.05) * 100) / 100)
    holdout = int(target.labelled * HOLDOUT_FRACTION)
    promotion: dict[str, Any] = {"metric": p.metric.value}
    if p.metric.value == "rmse":
        promotion |= {"min_improvement": 0.0, "min_relative_improvement": 0.01}
    else:
        promotion["min_improvement"] = 0.002 if p.metric.value == "roc_auc" else 0.005
    promotion["min_holdout_rows"] = max(1, min(30, holdout // 2))
    return {
        "name": name,
        "description": f"Predict '{target.name}' (written by `mlops init` from {data_path}; edit freely).",
        "data": data,
        "quality": {"suite": suite_path, "on_failure": "fail"},
        "model": {"task": p.task.value, "estimator": p.estimator.value, "params": {}},
        "registry": {"model_name": name},
        "promotion": promotion,
        "monitoring": {"drift_share_threshold": 0.3, "on_drift": "alert"},
    }


# --- the suite ---------------------------------------------------------------------------------------------


def suite_document(
    name: str, columns: list[ColumnProfile], target: str, time_column: str | None, p: Plan
) -> dict[str, Any]:
    """GX suite JSON (`name`, `expectations`, `meta`) for the plan's features, the target and the time column."""
    by_name = {c.name: c for c in columns}
    rows = columns[0].rows
    exps = [
        _exp("expect_table_row_count_to_be_between", {"min_value": min(ROW_COUNT_FLOOR, rows)},
             "fewer rows than this cannot be judged; raise it to what a normal batch holds"),
        _exp("expect_table_columns_to_match_set",
             {"column_set": [*([time_column] if time_column else []), *p.numeric, *p.categorical],
              "exact_match": False},
             "the model's columns must be there; others (the target of an unlabelled batch) may be missing"),
    ]  # fmt: skip
    if time_column and by_name[time_column].nulls == 0:
        exps.append(_exp("expect_column_values_to_not_be_null", {"column": time_column}))
    for col in [*p.numeric, *p.categorical]:
        exps += _column(by_name[col], not_null=by_name[col].nulls == 0)
    tgt = by_name[target]
    note = "on the target: left out for a batch without labels; missing targets are data.max_missing_target_share's"
    for exp in _column(tgt, not_null=False, as_class=p.task.value == "classification"):
        seen = exp["meta"].get("notes")
        exps.append({**exp, "meta": {"notes": f"{seen}; {note}" if seen else note}})
    return {
        "name": name,
        "meta": {
            "notes": f"Written by `mlops init` from the profile of {rows:,} rows; ranges widened by {MARGIN:.0%} "
            "of their span on each side. Edit it: it is yours."
        },
        "expectations": exps,
    }


def _column(c: ColumnProfile, not_null: bool, as_class: bool = False) -> list[dict[str, Any]]:
    types = {"numeric": NUMERIC_TYPES, "bool": BOOL_TYPES, "text": TEXT_TYPES}.get(c.kind)
    out = []
    if types:
        out.append(_exp("expect_column_values_to_be_in_type_list", {"column": c.name, "type_list": types}))
    if not_null:
        out.append(_exp("expect_column_values_to_not_be_null", {"column": c.name}))
    if c.values is not None and (as_class or _small_set(c)):
        out.append(_exp("expect_column_values_to_be_in_set", {"column": c.name, "value_set": c.values}))
    elif c.kind == "numeric" and c.minimum is not None and c.maximum is not None:
        low, high = widened(c.minimum, c.maximum, c.integer)
        out.append(
            _exp("expect_column_values_to_be_between", {"column": c.name, "min_value": low, "max_value": high},
                 f"seen {_num(c.minimum)} to {_num(c.maximum)}")
        )  # fmt: skip
    return out


def _small_set(c: ColumnProfile) -> bool:
    """Few distinct values, each seen often enough to believe the set is complete."""
    limit = MAX_NUMERIC_SET_VALUES if c.kind == "numeric" else MAX_SET_VALUES
    if c.kind == "numeric" and not c.integer:
        return False
    return c.distinct <= limit and c.labelled >= ROWS_PER_SET_VALUE * c.distinct


def widened(low: float, high: float, integer: bool) -> tuple[float, float]:
    """[low, high] widened by MARGIN of the span on each side and rounded outwards to a tidy step; a column
    never below 0 keeps 0 as its floor (a negative count or price is an error, not drift)."""
    span = high - low
    margin = span * MARGIN if span > 0 else max(abs(high) * MARGIN, 1.0)
    exponent = math.floor(math.log10(margin))
    step = 10.0**exponent
    if integer:
        step = max(step, 1.0)
    digits = max(0, -exponent)
    # the quotient is rounded first: (1.5 - 0.8) / 0.1 is 6.9999... in floating point, not 7
    new_low = round(math.floor(round((low - margin) / step, 9)) * step, digits)
    new_high = round(math.ceil(round((high + margin) / step, 9)) * step, digits)
    if low >= 0:
        new_low = max(new_low, 0.0)
    if integer or step >= 1:
        return int(new_low), int(new_high)
    return new_low, new_high


def _num(value: float) -> str:
    return f"{value:.6g}"


def _exp(kind: str, kwargs: dict[str, Any], notes: str = "") -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"notes": notes} if notes else {}}
