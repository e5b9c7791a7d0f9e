"""Reading a spec's time column, whatever form it came in: datetimes, dates (ISO text or a date column), integer
years (1997, 1998, ...) or integer epoch seconds. Anything else is refused, naming the column and the forms
accepted, before a window, a split or a replay works on a misread column (pandas reads 1997 as 1997
nanoseconds after 1970, and text it cannot parse ends in a traceback)."""

from __future__ import annotations

import pandas as pd

from mlops.errors import DataError
from mlops.timeutil import DAY_MONTH, DAY_MONTH_WHY

ACCEPTED = (
    "dates or datetimes (a datetime column, or ISO text such as 2013-07-01 or 2013-07-01T06:00, never 07/01/2013 "
    "whose day and month could be either way round), integer years "
    "(1997) or integer epoch seconds (1372636800)"
)
YEARS = (1000, 2999)  # integers in this range are years; epoch seconds this small would be January 1970
EPOCH_SECONDS = (10_000, 100_000_000_000)  # from 1970-01-01 02:46 to the year 5138


def read_time(col: pd.Series, where: str = "") -> tuple[pd.Series, str]:
    """The column as UTC datetimes, and how it was read: 'datetimes', 'dates', 'integer years' or 'epoch
    seconds'. Nulls stay null. Raises DataError naming the column and the accepted forms."""
    name = str(col.name)
    values = col.dropna()
    if pd.api.types.is_datetime64_any_dtype(col):
        return col, _dates_or_datetimes(col)  # naive stays naive: windows compare either kind
    if pd.api.types.is_bool_dtype(col):
        raise _refused(name, where, "it holds true/false values", values)
    if pd.api.types.is_numeric_dtype(col):
        return _from_numbers(col, name, where)
    text = values.astype(str).str.strip()
    if len(text) and text.str.fullmatch(r"-?\d+").all():  # whole numbers read as text (a string dtype)
        return _from_numbers(pd.to_numeric(col, errors="coerce").rename(name), name, where)
    day_month = text.str.fullmatch(DAY_MONTH)
    if day_month.any():  # pandas would read 05/01/2021 as 1 May, and 13/01/2021 as 13 January, row by row
        raise _refused(name, where, f"in {int(day_month.sum()):,} value(s) {DAY_MONTH_WHY}", text[day_month])
    parsed = pd.to_datetime(col.where(col.isna(), col.astype(str).str.strip()), utc=True, format="mixed",
                            errors="coerce")  # fmt: skip
    bad = parsed.isna() & col.notna()
    if bad.any():
        raise _refused(name, where, f"{int(bad.sum()):,} value(s) are not dates or times", col[bad])
    return parsed, _dates_or_datetimes(parsed)


def _from_numbers(col: pd.Series, name: str, where: str) -> tuple[pd.Series, str]:
    values = col.dropna()
    if values.empty:
        raise _refused(name, where, "it holds no values", values)
    if not (values == values.round()).all():
        raise _refused(name, where, "it holds fractional numbers", values[values != values.round()])
    low, high = float(values.min()), float(values.max())
    if YEARS[0] <= low and high <= YEARS[1]:
        years = col.astype("Int64").astype(str).where(col.notna())
        return pd.to_datetime(years, format="%Y", utc=True), "integer years"
    if EPOCH_SECONDS[0] <= low and high < EPOCH_SECONDS[1]:
        return pd.to_datetime(col, unit="s", utc=True), "epoch seconds"
    out_of_range = values[(values < EPOCH_SECONDS[0]) | (values >= EPOCH_SECONDS[1])]
    raise _refused(
        name, where, f"its numbers ({low:.0f} to {high:.0f}) are neither years ({YEARS[0]}-{YEARS[1]}) nor epoch "
        "seconds", out_of_range if not out_of_range.empty else values,
    )  # fmt: skip


def _refused(name: str, where: str, why: str, examples: pd.Series) -> DataError:
    shown = ", ".join(repr(_plain(x)) for x in examples.head(3).tolist())
    return DataError(
        f"{where}the time column '{name}' (data.time_column) cannot be read as time: {why}"
        + (f", e.g. {shown}" if shown else "")
        + f". Accepted: {ACCEPTED}. Convert the column, or name another one in data.time_column."
    )


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds (so a message shows 97, not np.int64(97))."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _dates_or_datetimes(times: pd.Series) -> str:
    values = times.dropna()
    if len(values) and (values == values.dt.normalize()).all():
        return "dates"
    return "datetimes"
