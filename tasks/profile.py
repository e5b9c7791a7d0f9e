"""Profiling a data file for `mlops init` (pandas): what each column holds, as the figures the pure decisions in
mlops/init_policy.py work from. Reading goes through the same readers as the pipelines (duplicate column names
and truncated CSVs are refused), so what is profiled is what a retrain will read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlops.errors import MlopsError
from mlops.init_policy import MAX_SET_VALUES, MIN_IDENTIFIER_ROWS, ColumnProfile, Kind
from tasks.data.readers import as_time, read_batch_file


def read(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file (by its extension), read as a retrain will read it; DataError when it cannot be."""
    return read_batch_file(path)


def profile(frame: pd.DataFrame, time_column: str | None = None) -> list[ColumnProfile]:
    """One profile per column, in the file's order. `time_column` is parsed as the retrain will parse it; a
    column that does not parse is profiled as it is (the decision then refuses it, naming the column)."""
    return [_column(str(name), frame[name], name == time_column) for name in frame.columns]


def time_holdout_share(frame: pd.DataFrame, target: str, time_column: str, fraction: float) -> float:
    """The share of the labelled rows the retrain's time split holds out when `fraction` is asked: computed by the
    split's own cut (tasks/data/splits.py), which never cuts inside a timestamp, so a coarse time column (6
    distinct years) can hold out 34% where 20% was asked."""
    from tasks.data.splits import time_holdout_rows

    labelled = frame.loc[frame[target].notna(), time_column]
    if labelled.empty:
        return fraction
    return time_holdout_rows(as_time(labelled), fraction) / len(labelled)


def _column(name: str, col: pd.Series, is_time: bool) -> ColumnProfile:
    rows, nulls = len(col), int(col.isna().sum())
    if is_time or _dated(col):
        try:
            return _time(name, col, rows, nulls, as_time(col))
        except (MlopsError, ValueError, TypeError, OverflowError):
            pass  # not a time: the decision refuses it as --time-column, naming the option
    kind = _kind(col)
    present = col.dropna()
    distinct = int(present.nunique())
    base: dict[str, Any] = {"name": name, "kind": kind, "rows": rows, "nulls": nulls, "distinct": distinct}
    if kind in ("bool", "text") or (kind == "numeric" and distinct <= MAX_SET_VALUES):
        counts = present.value_counts()  # the rarest value's count: a class a stratified split could miss
        base["smallest"] = int(counts.min()) if len(counts) else 0
        if distinct <= MAX_SET_VALUES:
            base["values"] = sorted(_native(v) for v in counts.index)
    if kind == "numeric":
        numbers = present.astype(float)
        integer = bool(len(numbers)) and bool((numbers == numbers.round()).all())
        base |= {"integer": integer}
        if len(numbers):
            base |= {"minimum": float(numbers.min()), "maximum": float(numbers.max())}
        base["identifier"] = integer and _row_number(present, rows)
    return ColumnProfile(**base)


# a date (and time) as people write them: 2013-07-01, 2013/7/1, 1/7/2013, 01.07.2013, 2013-07, 2013-07-01 06:30;
# a time of day alone (06:30) is not: it is a feature (the hour), not a time to split by
DATE_LIKE = r"\s*(\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\d{1,2}:\d{2}.*)?\s*"
DATE_SAMPLE = 1000


def _dated(col: pd.Series) -> bool:
    """Dates or times written as text (every value of a sample in a date form), or a datetime
    column: read as time, never as a category of 400 distinct strings."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return True
    if _kind(col) != "text":
        return False
    present = col.dropna().astype(str)
    if present.empty:
        return False
    sample = present.sample(min(len(present), DATE_SAMPLE), random_state=0)
    return bool(sample.str.fullmatch(DATE_LIKE).all())


def _time(name: str, col: pd.Series, rows: int, nulls: int, times: pd.Series) -> ColumnProfile:
    present = times.dropna()
    first, last = (_when(present.min()), _when(present.max())) if len(present) else ("", "")
    return ColumnProfile(
        name, "time", rows, nulls, distinct=int(present.nunique()),
        text_time=not pd.api.types.is_datetime64_any_dtype(col) and _kind(col) == "text", first=first, last=last,
    )  # fmt: skip


def _when(value: Any) -> str:
    ts = pd.Timestamp(value)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")


def _kind(col: pd.Series) -> Kind:
    if pd.api.types.is_bool_dtype(col):
        return "bool"
    if pd.api.types.is_numeric_dtype(col):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(col):
        return "time"
    if (
        isinstance(col.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(col)
        or pd.api.types.is_object_dtype(col)  # text with blanks: pandas calls it a string column only without
    ):
        present = col.dropna()
        if present.map(lambda v: isinstance(v, str)).all():
            return "text"
        if len(present) and present.map(lambda v: isinstance(v, bool)).all():
            return "bool"  # true/false with blanks (an object column)
    return "other"


def _row_number(values: pd.Series, rows: int) -> bool:
    """0..n-1 or 1..n in order: an index written with the data (pandas' 'Unnamed: 0'), not a feature."""
    if rows < MIN_IDENTIFIER_ROWS or len(values) != rows:
        return False
    first = int(values.iloc[0])
    return first in (0, 1) and bool((values.astype("int64").diff().iloc[1:] == 1).all())


def _native(value: Any) -> Any:
    """JSON- and YAML-native: numpy's scalars become Python's."""
    item = getattr(value, "item", None)
    return item() if callable(item) and type(value).__module__ == "numpy" else value
