"""Profiling a data file for `mlops init` (pandas): what each column holds, as the figures the pure decisions in
mlops/init_policy.py work from. Reading goes through the same readers as the pipelines (duplicate column names
and truncated CSVs are refused), so what is profiled is what a retrain will read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlops.errors import MlopsError
from mlops.init_policy import MAX_SET_VALUES, ColumnProfile, Kind
from tasks.data.readers import as_time, read_batch_file

MIN_IDENTIFIER_ROWS = 20  # below this, a column unique per row is just a small sample


def read(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file (by its extension), read as a retrain will read it; DataError when it cannot be."""
    return read_batch_file(path)


def profile(frame: pd.DataFrame, time_column: str | None = None) -> list[ColumnProfile]:
    """One profile per column, in the file's order. `time_column` is parsed as the retrain will parse it; a
    column that does not parse is profiled as it is (the decision then refuses it, naming the column)."""
    return [_column(str(name), frame[name], name == time_column) for name in frame.columns]


def _column(name: str, col: pd.Series, is_time: bool) -> ColumnProfile:
    rows, nulls = len(col), int(col.isna().sum())
    if is_time:
        try:
            as_time(col)
            return ColumnProfile(name, "time", rows, nulls)
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
    elif kind == "text":
        base["identifier"] = rows >= MIN_IDENTIFIER_ROWS and nulls == 0 and distinct == rows
    return ColumnProfile(**base)


def _kind(col: pd.Series) -> Kind:
    if pd.api.types.is_bool_dtype(col):
        return "bool"
    if pd.api.types.is_numeric_dtype(col):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(col):
        return "time"
    if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col):
        present = col.dropna()
        if present.map(lambda v: isinstance(v, str)).all():
            return "text"
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
