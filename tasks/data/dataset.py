"""A Parquet source larger than one read: a folder of Parquet files, or a hive-partitioned dataset
(`year=2013/month=7/part-0.parquet`), read through pyarrow.dataset with the window and the columns pushed down.

The window [start, end) on the time column becomes a dataset filter (files and row groups whose statistics lie
outside it are skipped: only their footers are read), and only the columns the spec needs are read (the features,
target, time column, split key, slice columns and the columns the quality suite names). When the spec needs every
column (features inferred, a suite that checks the column set, a split keyed on the whole row) every column is
read. The window is applied again in pandas afterwards, so the frame is exactly what a whole read then a filter
would give."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlops.errors import DataError, MlopsError, Problem, SpecError
from mlops.object_store import is_object_uri
from mlops.spec import LoadedSpec

if TYPE_CHECKING:
    import pandas as pd

# table-level expectations that look at the set of columns: with them in the suite every column is read
T = TypeVar("T")

COLUMN_SET_EXPECTATIONS = ("expect_table_columns_to_match", "expect_table_column_count")


def dataset_root(loaded: LoadedSpec) -> Path | str | None:
    """The folder a Parquet source names (a dataset: a local folder, or a folder of objects, `s3://b/flights/`,
    as its URI), or None for files, globs, CSV and builtin sources."""
    src = loaded.spec.data.source
    if src.kind != "parquet" or not src.path:
        return None
    if is_object_uri(src.path):
        from tasks.objects import is_folder

        return src.path if not any(c in src.path for c in "*?[") and is_folder(src.path) else None
    path = loaded.resolve(src.path)
    return path if path.is_dir() else None


def _dataset(root: Path | str) -> Any:
    import pyarrow.dataset as ds

    def open_it() -> Any:
        # hive partitions (key=value folders) become columns; plain sub-folders are just more files
        if isinstance(root, str):  # objects in a store, listed and read through its file system
            from tasks.objects import filesystem

            fs, path = filesystem(root)
            return ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive",
                              exclude_invalid_files=False)  # fmt: skip
        return ds.dataset(root, format="parquet", partitioning="hive", exclude_invalid_files=False)

    try:
        dataset = _remote_call(root, open_it)
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for unreadable data; all become DataError
        raise DataError(
            f"{root}: cannot be read as a Parquet dataset ({type(exc).__name__}: {exc})."
        ) from None
    if not dataset.files:
        raise SpecError(
            [Problem(str(root), "data.source.path", f"the folder '{root}' holds no Parquet file",
                     "put .parquet files in it (any depth, hive partitions such as year=2013/ allowed)")]
        )  # fmt: skip
    names = list(dataset.schema.names)
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise DataError(
            f"{root}: duplicate column names: {', '.join(dupes)}; every column needs its own name (a partition "
            "key that is also a column of the files counts twice)."
        )
    return dataset


def spec_columns(loaded: LoadedSpec) -> frozenset[str] | None:
    """The names of the columns this spec uses (None: every column). The one rule for what is read from a table, a
    Parquet dataset or a sql query (only these are selected), and for what a batch's identity covers (predict's
    fingerprint and sample, the monitor's; tasks.data.stream.Fingerprint): the target, the features, the time column,
    the id column, the split key, the slice columns and the columns the quality suite names. A column the spec does
    not use changes no prediction, no check and no verdict, so a batch read with it (predict, which keeps every
    column in its output) and without it (the monitor's pushed-down read) is the same batch. Every column when the
    features are inferred, when the split keys rows by their whole content, or when the suite checks the set of
    columns."""
    spec = loaded.spec
    data = spec.data
    if data.features.numeric is None or data.features.categorical is None:
        return None  # inferred features: every column is a candidate
    if data.split.key is None and data.time_column is None and data.split.strategy != "time":
        return None  # the split's row key is the whole row's content
    wanted = {data.target, *data.features.numeric, *data.features.categorical, *(data.split.key or [])}
    wanted |= {g.column for g in spec.promotion.slice_guardrails}
    # the id: predictions are kept and labels joined by it, so two batches of other ids are two batches
    wanted |= {c for c in (data.time_column, data.id_column) if c}
    if spec.quality:
        from tasks.quality import read_suite, suite_columns

        try:
            suite = read_suite(loaded.resolve(spec.quality.suite))
        except Exception:  # noqa: BLE001 - the gate itself will name the problem; read everything meanwhile
            return None
        kinds = [str(e.get("type", "")) for e in suite.get("expectations", []) if isinstance(e, dict)]
        if any(k.startswith(COLUMN_SET_EXPECTATIONS) for k in kinds):
            return None
        wanted |= suite_columns(suite)
    return frozenset(wanted)


def needed_columns(loaded: LoadedSpec, available: list[str]) -> list[str] | None:
    """The columns this spec reads from its source (spec_columns), in the source's order; None: all of them."""
    wanted = spec_columns(loaded)
    return None if wanted is None else [c for c in available if c in wanted]


def read_dataset(
    loaded: LoadedSpec,
    root: Path | str,
    start: object = None,
    end: object = None,
    nrows: int | None = None,
    all_columns: bool = False,
) -> pd.DataFrame:
    """The dataset's rows in [start, end) of the time column (all rows without a window), with the columns the
    spec needs (every column with `all_columns`); `nrows` reads only a head (for fast checks)."""
    dataset = _dataset(root)
    names = list(dataset.schema.names)
    columns = None if all_columns or nrows is not None else needed_columns(loaded, names)  # a head: all
    try:
        if nrows is not None:
            return _remote_call(root, lambda: dataset.head(nrows, columns=columns)).to_pandas()
        where = window_filter(dataset.schema, loaded.spec.data.time_column, start, end)
        return _remote_call(root, lambda: dataset.to_table(columns=columns, filter=where)).to_pandas()
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for unreadable data; all become DataError
        raise DataError(
            f"{root}: cannot be read as a Parquet dataset ({type(exc).__name__}: {exc})."
        ) from None


def _remote_call(root: Path | str, action: Callable[[], T]) -> T:
    """`action()`, through tasks.objects.call for a dataset in a store (its failures said in one paragraph)."""
    if not isinstance(root, str):
        return action()
    from tasks.objects import call

    return call(root, action)


def window_filter(schema: Any, column: str | None, start: object, end: object) -> Any:
    """A pyarrow filter keeping [start, end) of a timestamp or date column; None (no filter) when there is no
    window or the column holds another kind of time (years, epoch seconds, text: filtered in pandas)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if column is None or column not in schema.names or (start is None and end is None):
        return None
    kind = schema.field(column).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return None
    where = None
    for bound, keep in ((start, "ge"), (end, "lt")):
        if bound is None:
            continue
        value = pa.scalar(_bound(bound, kind), type=kind)
        term = ds.field(column) >= value if keep == "ge" else ds.field(column) < value
        where = term if where is None else where & term
    return where


def _bound(value: object, kind: Any) -> Any:
    """The window's bound as the column's type holds it: tz-aware for a tz-aware column (a naive bound taken in
    the column's zone), naive UTC for a naive one (as tasks.data.readers.in_window compares)."""
    import pandas as pd
    import pyarrow as pa

    from mlops.timeutil import as_iso

    ts = pd.Timestamp(as_iso(value) if isinstance(value, str) else value)  # type: ignore[arg-type]
    if pa.types.is_date(kind):
        # a date column is compared as midnight of the day: [start, end) keeps a day from its midnight on
        day = ts.tz_convert(None) if ts.tzinfo is not None else ts
        return (day.ceil("D") if day != day.normalize() else day).date()
    tz = getattr(kind, "tz", None)
    if tz is not None:
        ts = ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    elif ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    return ts.to_pydatetime()
