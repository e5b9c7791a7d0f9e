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
FAR_FROM_ASKED = 0.05  # a time split holding out a share this far from HOLDOUT_FRACTION is warned about
SEED = 42
MARGIN = 0.1  # a range is widened by this share of its span on each side
ROW_COUNT_FLOOR = 30
# each row-wise expectation passes while at most 1% of the rows break it: a few bad rows are not a bad batch (the
# gate lets them through, predict lists them in its rejects file, the monitor counts them); more stop the batch
MOSTLY = 0.99
NUMERIC_TYPES = [
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
]  # fmt: skip
BOOL_TYPES = ["bool", "boolean", "BooleanDtype"]
TEXT_TYPES = ["str", "StringDtype", "CategoricalDtypeType"]


# A column that alone predicts the target this well on a holdout, while the next best column alone stays
# STANDOUT below it, is probably a leak (the outcome written another way); one at ALMOST_CERTAIN is one whatever
# the others do. A strong honest feature (a tumour's perimeter, ROC AUC 0.97) has honest company close behind.
LEAK_SCORES = {"roc_auc": 0.95, "r2": 0.9}
ALMOST_CERTAIN = {"roc_auc": 0.99, "r2": 0.98}
STANDOUT = 0.1
IDENTIFIER_SHARE = 0.95  # whole numbers or text with this share of distinct values: an id, one per row
FREE_TEXT_SHARE = 0.5  # text with this share of distinct values (and more than MAX_SET_VALUES): free text
MIN_IDENTIFIER_ROWS = 20  # below this, a column unique per row is just a small sample
METRIC_LABELS = {"roc_auc": "ROC AUC", "r2": "R2"}


@dataclass(frozen=True)
class Alone:
    """How well one column alone predicts the target on a holdout (tasks/data/leakage.py): the metric ('roc_auc'
    or 'r2'), its value, and the rows of the sample it was measured on."""

    metric: str
    value: float
    rows: int


def probable_leaks(alone: dict[str, Alone], target: str) -> dict[str, str]:
    """{column: why it is probably a leak, with the figures} among the columns measured alone."""
    out = {}
    for col, a in alone.items():
        label = METRIC_LABELS.get(a.metric, a.metric)
        others = [b.value for c, b in alone.items() if c != col and b.metric == a.metric]
        runner_up = max(others, default=None)
        said = f"alone it predicts '{target}' with {label} {a.value:.3f} on a holdout (a one-column model, {a.rows:,} rows)"
        if a.value >= ALMOST_CERTAIN.get(a.metric, math.inf):
            out[col] = f"{said}: {label} >= {ALMOST_CERTAIN[a.metric]} is almost certainly the outcome itself"
        elif a.value >= LEAK_SCORES.get(a.metric, math.inf) and (
            runner_up is None or a.value - runner_up >= STANDOUT
        ):
            ahead = "" if runner_up is None else f", where the next best column alone reaches {runner_up:.3f}"
            out[col] = (
                f"{said}{ahead}: {label} >= {LEAK_SCORES[a.metric]} and {STANDOUT} ahead of every other column "
                "counts as a probable leak"
            )
    return out


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
    text_time: bool = False  # dates or times written as text (kind "time"): parsed, never a category
    first: str = ""  # a time column's earliest and latest values, as text (shown in reasons)
    last: str = ""

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
    warnings: list[str] = field(default_factory=list)  # what the person should know before the first retrain
    kept: list[Choice] = field(default_factory=list)  # columns --keep kept, and what was overridden


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


def choose_split(
    task: str, target: ColumnProfile, time_column: str | None, held_share: float | None = None
) -> Choice:
    """Time when there is a time column (the holdout is the latest data, as production will be); else
    stratified for classification (each class in the holdout), random for regression. `held_share` is the share
    the retrain's time split really holds out on this data (it never cuts inside a timestamp): the one said."""
    if time_column:
        share = HOLDOUT_FRACTION if held_share is None else held_share
        return Choice("time", f"--time-column '{time_column}': the latest {share:.0%} of the rows is held out, "
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


def holdout_warning(time: ColumnProfile, held_share: float | None) -> str:
    """A warning when the time split holds out a share far from HOLDOUT_FRACTION (by FAR_FROM_ASKED or more):
    rows sharing a timestamp stay on one side, so a column with few distinct times moves the cut. "" otherwise."""
    if held_share is None or abs(held_share - HOLDOUT_FRACTION) < FAR_FROM_ASKED:
        return ""
    few = f" has {time.distinct:,} distinct values and" if time.distinct else ""
    return (
        f"the time split holds out {held_share:.0%} of the rows, not the {HOLDOUT_FRACTION:.0%} asked: "
        f"'{time.name}'{few} rows sharing a timestamp always stay on one side, so the cut moves to a timestamp "
        f"boundary. Give a finer time column (a date, not a year), or set data.split.strategy: random in the spec "
        f"for a {HOLDOUT_FRACTION:.0%} holdout (then the holdout is no longer the latest data)."
    )


# What init writes for LightGBM (the [boost] extra): more, slower trees than the library's default, as many as
# early stopping on the latest training rows keeps (docs/models.md; docs/benchmarks.md for the flights' figures)
BOOSTING_PARAMS: dict[str, Any] = {"n_estimators": 1000, "learning_rate": 0.05}
EARLY_STOPPING_ROUNDS = 20


def choose_estimator(task: str, boosting: bool = False) -> Choice:
    """HistGradientBoosting; LightGBM when the `boost` extra is installed (`boosting`), which then stops early on
    a validation part of the training rows."""
    kind = "Classifier" if task == "classification" else "Regressor"
    if boosting:
        return Choice(
            f"lightgbm.LGBM{kind}",
            f"the boost extra is installed, so LightGBM: categorical columns as categories and nulls as they are, "
            f"and as many trees (of {BOOSTING_PARAMS['n_estimators']}) as early stopping on the latest training "
            f"rows keeps ({EARLY_STOPPING_ROUNDS} rounds; never the holdout). On the flights it beat "
            "HistGradientBoosting's holdout roc_auc, 0.731 to 0.718 (docs/benchmarks.md); "
            f"sklearn.ensemble.HistGradientBoosting{kind} needs no extra",
        )
    return Choice(
        f"sklearn.ensemble.HistGradientBoosting{kind}",
        "a strong default for tables: non-linear, takes missing values, fast; tune it or pick another later "
        '(with the boost extra, `pip install -e ".[boost]"`, init proposes LightGBM)',
    )


def plan(
    columns: list[ColumnProfile],
    target: str,
    time_column: str | None,
    held_share: float | None = None,
    alone: dict[str, Alone] | None = None,
    keep: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
    boosting: bool = False,
) -> Plan:
    """The whole decision. Raises InitRefused naming the column when the target or time column cannot serve.
    `held_share`: the share of rows the retrain's time split holds out on this data (see choose_split); `alone`:
    how well each column alone predicts the target (a probable leak is left out); `keep` and `drop` (--keep,
    --drop) override the choice of features."""
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
    _check_overrides(by_name, target, time_column, keep, drop)
    leaks = probable_leaks(alone or {}, target)
    numeric, categorical, left_out, kept = [], [], [], []
    for c in columns:
        if c.name in (target, time_column):
            continue
        role, why = column_role(c, time_column, leaks.get(c.name, ""))
        if c.name in drop:
            left_out.append(
                Choice(c.name, "--drop" + (f" (it would have been used as a {role} feature)" if role else ""))
            )
            continue
        if c.name in keep and not role:
            role = _kept_role(c, why)
            kept.append(Choice(c.name, f"--keep, as a {role} feature (it would have been left out: {why})"))
        elif c.name in keep:
            kept.append(Choice(c.name, f"--keep (a {role} feature anyway)"))
        if role == "numeric":
            numeric.append(c.name)
        elif role == "categorical":
            categorical.append(c.name)
        else:
            left_out.append(Choice(c.name, why))
    if not numeric and not categorical:
        raise InitRefused(
            f"no column besides the target '{target}' can be a feature; give data with features"
            + (", or name one with --keep COL" if left_out else "")
            + "."
        )
    return Plan(
        task=task,
        split=choose_split(task.value, tgt, time_column, held_share),
        metric=choose_metric(task.value, tgt),
        estimator=choose_estimator(task.value, boosting),
        numeric=numeric,
        categorical=categorical,
        left_out=left_out,
        kept=kept,
        warnings=[w for w in [holdout_warning(by_name[time_column], held_share) if time_column else ""] if w],
    )


def column_role(c: ColumnProfile, time_column: str | None, leak: str = "") -> tuple[str, str]:
    """('numeric' or 'categorical', '') for a feature, or ('', why it is left out, with the figure that decided):
    empty, constant, dates or times, mixed values, an identifier, free text, a probable leak."""
    n, rows = c.distinct, c.labelled
    blanks = f", {c.nulls:,} blank" if c.nulls else ""
    if rows == 0:
        return "", "empty on every row"
    if n <= 1:
        value = f" ({c.values[0]!r})" if c.values else ""
        return "", f"a constant: every row{' with a value' if c.nulls else ''} holds the same value{value}"
    if c.kind == "time":
        what = "dates or times written as text" if c.text_time else "dates or times"
        span = f", {c.first} to {c.last}" if c.first and c.last else ""
        if time_column:
            return "", (
                f"{what} ({n:,} distinct values{span}): not a category; derive features from it (day of week, "
                f"age in days) if they matter, or give it as --time-column instead of '{time_column}'"
            )
        return "", (
            f"{what} ({n:,} distinct values{span}): not a category; give --time-column {c.name} to split by time "
            "(the holdout then is the latest data) and window batches by it"
        )
    if c.kind == "other":
        return "", (
            "mixed values (numbers and text, or other objects) in one column: convert it in the data to numbers "
            "or to text"
        )
    share = n / rows
    if c.identifier or (
        (c.kind == "text" or (c.kind == "numeric" and c.integer))
        and rows >= MIN_IDENTIFIER_ROWS
        and share >= IDENTIFIER_SHARE
    ):
        return "", (
            f"an identifier ({n:,} distinct values in {rows:,} rows{blanks}: {share:.0%} distinct, >= "
            f"{IDENTIFIER_SHARE:.0%} counts as an id): a different value on (nearly) every row, nothing to learn"
        )
    if c.kind == "text" and n > MAX_SET_VALUES and share >= FREE_TEXT_SHARE:
        return "", (
            f"free text ({n:,} distinct values in {rows:,} rows{blanks}: {share:.0%} distinct, >= "
            f"{FREE_TEXT_SHARE:.0%} counts as free text), not used: a category needs values that repeat; derive "
            "features from it (its length, keywords), or keep it as a category with --keep"
        )
    if leak:
        return "", (
            f"probably a leak: {leak}. A value known only after the outcome? If it is known when a prediction is "
            f"made, keep it with --keep {c.name}"
        )
    return ("numeric" if c.kind == "numeric" else "categorical"), ""


def _kept_role(c: ColumnProfile, why: str) -> str:
    if c.labelled == 0:
        raise InitRefused(f"--keep '{c.name}': {why}; a model cannot learn from it. Leave the --keep out.")
    if c.kind == "numeric":
        return "numeric"
    if c.kind in ("bool", "text") or c.text_time:
        return "categorical"
    raise InitRefused(
        f"--keep '{c.name}': {why}; it cannot be a feature as it is. Convert the column in the data, or leave the "
        "--keep out."
    )


def _check_overrides(
    by_name: dict[str, ColumnProfile],
    target: str,
    time_column: str | None,
    keep: tuple[str, ...],
    drop: tuple[str, ...],
) -> None:
    from mlops.text import did_you_mean

    for option, names in (("--keep", keep), ("--drop", drop)):
        for name in names:
            if name not in by_name:
                guess = did_you_mean(name, list(by_name))
                hint = (
                    f"did you mean '{guess}'?" if guess else "the data has: " + ", ".join(list(by_name)[:20])
                )
                raise InitRefused(f"{option} '{name}' is not a column of the data; {hint}")
            if name in (target, time_column):
                what = "the target" if name == target else "the time column"
                raise InitRefused(f"{option} '{name}' names {what}, which is never a feature; leave it out.")
    both = sorted(set(keep) & set(drop))
    if both:
        raise InitRefused(
            f"--keep and --drop both name {', '.join(repr(b) for b in both)}; give one of them."
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
        "model": model_section(p),
        "registry": {"model_name": name},
        "promotion": promotion,
        "monitoring": {"drift_share_threshold": 0.3, "on_drift": "alert"},
    }


def model_section(p: Plan) -> dict[str, Any]:
    """The spec's model: the estimator with no params, or LightGBM's with early stopping (choose_estimator)."""
    if p.estimator.value.startswith("lightgbm."):
        return {"task": p.task.value, "estimator": p.estimator.value, "params": dict(BOOSTING_PARAMS),
                "early_stopping_rounds": EARLY_STOPPING_ROUNDS}  # fmt: skip
    return {"task": p.task.value, "estimator": p.estimator.value, "params": {}}


# --- the suite ---------------------------------------------------------------------------------------------


def suite_document(
    name: str, columns: list[ColumnProfile], target: str, time_column: str | None, p: Plan
) -> dict[str, Any]:
    """GX suite JSON (`name`, `expectations`, `meta`) for the plan's features, the target and the time column."""
    return suite_for(name, columns, target, time_column, p.task.value, p.numeric, p.categorical)


def suite_for(
    name: str,
    columns: list[ColumnProfile],
    target: str,
    time_column: str | None,
    task: str,
    numeric: list[str],
    categorical: list[str],
) -> dict[str, Any]:
    """The suite for these features, target and time column (`mlops init --suite-only` gives a spec's own)."""
    by_name = {c.name: c for c in columns}
    rows = columns[0].rows
    exps = [
        _exp("expect_table_row_count_to_be_between", {"min_value": min(ROW_COUNT_FLOOR, rows)},
             "fewer rows than this cannot be judged; raise it to what a normal batch holds"),
        _exp("expect_table_columns_to_match_set",
             {"column_set": [*([time_column] if time_column else []), *numeric, *categorical],
              "exact_match": False},
             "the model's columns must be there; others (the target of an unlabelled batch) may be missing"),
    ]  # fmt: skip
    if time_column and by_name[time_column].nulls == 0:
        exps.append(_exp("expect_column_values_to_not_be_null", {"column": time_column}))
    for col in [*numeric, *categorical]:
        exps += _column(by_name[col], not_null=by_name[col].nulls == 0)
    tgt = by_name[target]
    note = "on the target: left out for a batch without labels; missing targets are data.max_missing_target_share's"
    for exp in _column(tgt, not_null=False, as_class=task == "classification"):
        seen = exp["meta"].get("notes")
        exps.append({**exp, "meta": {"notes": f"{seen}; {note}" if seen else note}})
    return {
        "name": name,
        "meta": {
            "notes": f"Written by `mlops init` from the profile of {rows:,} rows; ranges widened by {MARGIN:.0%} "
            f"of their span on each side; each row-wise expectation tolerates up to {1 - MOSTLY:.0%} bad rows "
            f"(mostly: {MOSTLY}): a batch with a few passes the gate (predict lists them in its rejects file, the "
            "monitor counts them), one with more stops. Edit it: it is yours."
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
    if kind.startswith("expect_column_values_to_"):  # judged row by row: a few bad rows are tolerated
        kwargs = {**kwargs, "mostly": MOSTLY}
    return {"type": kind, "kwargs": kwargs, "meta": {"notes": notes} if notes else {}}
