"""Splitting the data into train and holdout, the features the model trains on, the data snapshot's hash, and the
reference sample the monitor compares batches with.

A row's side is drawn from a seeded hash of its key (declared columns, else the time column, else its whole
content), never from its position: when the data grows or the window moves, a row that was trained on stays in
training and never lands in a later holdout, where it would flatter the champion that learnt it. Rows sharing a
key (a timestamp) always fall on the same side. A time split holds out the latest timestamps instead."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from mlops.data_policy import missing_target_refusal, missing_target_text
from mlops.errors import DataError, MlopsError
from mlops.spec import Data, LoadedSpec

if TYPE_CHECKING:
    import numpy as np

# A row is held out when its seeded hash, modulo this, falls below holdout_fraction times it.
DRAW_SCALE = 1_000_000


@dataclass(frozen=True)
class Features:
    numeric: list[str]
    categorical: list[str]
    excluded: list[str] = field(default_factory=list)  # inferred columns left out: they hold no value at all

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
    key: tuple[str, ...] = ()  # the columns a row's identity (and its side of the split) is hashed from
    notes: list[str] = field(default_factory=list)  # what the split left out, for the run's summary
    tags: dict[str, str] = field(default_factory=dict)  # the same for the MLflow run: excluded_features, ...


@dataclass(frozen=True)
class TrainedRows:
    """Which rows a model trained on: the distinct hashes of their key columns (recorded with its run), so a
    later comparison can leave them out of the holdout."""

    key: tuple[str, ...]
    hashes: np.ndarray  # sorted, distinct uint64


def resolve_features(frame: pd.DataFrame, data: Data) -> Features:
    """Declared features, or inferred from dtypes (then recorded with the model so they are frozen)."""
    skip = {data.target, *(data.features.exclude or [])}
    if data.time_column:
        skip.add(data.time_column)
    if data.id_column:  # an id names a row, it says nothing about it: never a feature
        skip.add(data.id_column)
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
    # an inferred column with no value at all would be dropped by the imputer with a warning: leave it out, said
    excluded = [
        str(c) for c in [*(numeric if data.features.numeric is None else []),
                         *(categorical if data.features.categorical is None else [])]
        if frame[c].isna().all()
    ]  # fmt: skip
    numeric = [c for c in numeric if c not in excluded]
    categorical = [c for c in categorical if c not in excluded]
    if not numeric and not categorical:
        raise DataError(
            "no feature columns: declare data.features or give the data columns besides the target"
            + (f" (left out for holding no value: {', '.join(excluded)})" if excluded else "")
            + "."
        )
    return Features(numeric=list(numeric), categorical=list(categorical), excluded=excluded)


def empty_declared(frame: pd.DataFrame, data: Data, where: str = "") -> None:
    """Raise DataError naming the declared feature columns that hold no value at all (the imputer would drop
    them with a warning and the model would train without them)."""
    declared = [*(data.features.numeric or []), *(data.features.categorical or [])]
    empty = [c for c in declared if c in frame.columns and frame[c].isna().all()]
    if empty:
        names = ", ".join(f"'{c}'" for c in empty)
        raise DataError(
            f"{where + ': ' if where else ''}the declared feature column{'s' if len(empty) > 1 else ''} {names} "
            f"{'hold' if len(empty) > 1 else 'holds'} no values (every row is null"
            + (
                " among the rows with a target"
                if data.target in frame.columns and frame[data.target].isna().any()
                else ""
            )
            + "); fill the column in the source, or remove it from data.features."
        )


def drop_unlabelled(frame: pd.DataFrame, data: Data) -> tuple[pd.DataFrame, int]:
    """The rows with a target, and how many were left out; DataError when more than
    data.max_missing_target_share of the rows have none."""
    missing = int(frame[data.target].isna().sum())
    refusal = missing_target_refusal(missing, len(frame), data.max_missing_target_share, data.target)
    if refusal:
        raise DataError(refusal)
    return (frame.dropna(subset=[data.target]) if missing else frame), missing


def _left_out(features: Features, missing: int, rows: int, data: Data) -> tuple[list[str], dict[str, str]]:
    """The notes and MLflow tags of what the split left out: empty inferred columns, unlabelled rows."""
    notes = []
    if features.excluded:
        notes.append(
            f"feature columns left out because they hold no values (every row is null): "
            f"{', '.join(features.excluded)}; fill them, or list them in data.features.exclude to silence this."
        )
    if missing:
        notes.append(
            f"{missing_target_text(missing, rows)} have no value in the target '{data.target}' and were left out "
            f"of training and the holdout (data.max_missing_target_share allows {data.max_missing_target_share:.1%})."
        )
    tags = {"excluded_features": ",".join(features.excluded), "missing_target_rows": str(missing)}
    return notes, tags


def split(frame: pd.DataFrame, loaded: LoadedSpec, order: np.ndarray | None = None) -> SplitData:
    """Split into train and holdout: a stable seeded draw per row key, or, for a time split, the latest
    timestamps held out (rows sharing the cut's timestamp all go to the holdout). `order` (identify's): the
    rows' content order, which each part then follows (a time split: by time, then in this order), so the same
    rows read in another order give the same parts, row for row; computed here when not given."""
    data, task_kind = loaded.spec.data, loaded.spec.model.task
    if order is None:
        order = identify(frame, data.time_column).order
    rows = len(frame)
    labelled = frame[data.target].notna().to_numpy()
    frame, missing = drop_unlabelled(frame, data)
    positions = _content_positions(order, labelled if missing else None)
    empty_declared(frame, data)
    features = resolve_features(frame, data)
    cfg = data.split
    key = row_key(frame, data)
    if cfg.strategy == "time":
        train, holdout, cut_time = _time_cut(frame, data.time_column or "", cfg.holdout_fraction, positions)
        text = f"time split at {cut_time}" + tie_note(len(holdout), len(frame), cfg.holdout_fraction)
    else:
        held = in_holdout(row_hashes(frame, key), cfg.seed, cfg.holdout_fraction, "holdout")
        side = held[positions]  # each part in content order
        train, holdout = frame.take(positions[~side]), frame.take(positions[side])
        text = f"{cfg.strategy} split, seed {cfg.seed}, stable per {_key_text(key, data)}"
    if len(train) < 2 or len(holdout) < 2:
        raise DataError(
            f"the split leaves {len(train)} training and {len(holdout)} holdout rows; more data is needed."
        )
    if task_kind == "classification" and train[data.target].nunique() < 2:
        raise DataError("the training part has a single class; widen data.window or change data.split.")
    if cfg.strategy == "stratified" and task_kind == "classification":
        absent = sorted(map(str, set(frame[data.target]) - set(holdout[data.target])))
        if absent:
            raise DataError(
                f"cannot split the data: no row of class {', '.join(absent)} was drawn into the holdout; "
                "use more rows or split.strategy: random."
            )
    text += f": {len(train):,} train rows, {len(holdout):,} holdout rows"
    if missing:
        text += f" ({missing:,} rows without a target left out)"
    notes, tags = _left_out(features, missing, rows, data)
    tags |= trained_span(train, data.time_column)
    return SplitData(train, holdout, features, frame_sha256(holdout), text, tuple(key), notes, tags)


def trained_span(train: pd.DataFrame, time_column: str | None) -> dict[str, str]:
    """`trained_from`/`trained_to`: the first and last time of the training rows (ISO, UTC), recorded on the run
    and the version, so a replay can mark the periods the model trained on as in-sample. {} without a time
    column, or when it cannot be read as time."""
    if not time_column or time_column not in train.columns or train.empty:
        return {}
    from tasks.data.timecol import read_time

    try:
        times = read_time(train[time_column])[0].dropna()
    except MlopsError:
        return {}
    if times.empty:
        return {}
    first, last = pd.Timestamp(times.min()), pd.Timestamp(times.max())
    if first.tzinfo is not None:
        first, last = first.tz_convert("UTC").tz_localize(None), last.tz_convert("UTC").tz_localize(None)
    return {"trained_from": first.isoformat(), "trained_to": last.isoformat()}


def row_key(frame: pd.DataFrame, data: Data) -> list[str]:
    """The columns a row's identity is hashed from: data.split.key, else the time column (rows sharing a
    timestamp stay together), else every column (the row's content)."""
    if data.split.key:
        missing = [c for c in data.split.key if c not in frame.columns]
        if missing:
            raise DataError(
                f"data.split.key names columns the data does not have: {', '.join(missing)}; name columns that "
                f"identify a row (the data has {', '.join(map(str, frame.columns))})."
            )
        return list(data.split.key)
    if data.time_column and data.time_column in frame.columns:
        return [data.time_column]
    return sorted(map(str, frame.columns))


def row_hashes(frame: pd.DataFrame, key: list[str] | tuple[str, ...]) -> np.ndarray:
    """A uint64 per row from its key columns' values only (not the index, not the row's position). Numbers are
    hashed as float64 and times as UTC nanoseconds, so an int column read back as float (a NaN appeared) or a
    timestamp read at another precision still names the same row."""
    columns = {c: comparable(frame[c]) for c in key}
    return pd.util.hash_pandas_object(pd.DataFrame(columns), index=False).to_numpy()


def comparable(col: pd.Series) -> pd.Series:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.astype(object)
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_convert("UTC").dt.tz_localize(None)
        return col.dt.as_unit("ns")
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    return col


def in_holdout(hashes: np.ndarray, seed: int, fraction: float, salt: str) -> np.ndarray:
    """The seeded per-row draw: True for the rows held out. A row's draw depends on its hash, the seed and the
    salt only, so adding or dropping other rows never moves it."""
    import numpy as np

    mix = int.from_bytes(hashlib.sha256(f"mlops-split:{salt}:{seed}".encode()).digest()[:8], "little")
    drawn = pd.util.hash_array(np.asarray(hashes, dtype=np.uint64) ^ np.uint64(mix))
    return np.asarray(drawn % DRAW_SCALE < round(fraction * DRAW_SCALE))


def training_rows(parts: SplitData) -> TrainedRows:
    """The rows the model of this split trains on, as their distinct key hashes (recorded with its run)."""
    import numpy as np

    return TrainedRows(parts.key, np.unique(row_hashes(parts.train, parts.key)))


def _content_positions(order: np.ndarray, labelled: np.ndarray | None) -> np.ndarray:
    """The row positions in content order (`order`, identify's) once the rows not `labelled` are dropped (None:
    none dropped): positions into the frame left, no sort."""
    import numpy as np

    if labelled is None:
        return order
    return (np.cumsum(labelled) - 1)[order[labelled[order]]]


def _time_cut(
    frame: pd.DataFrame, time_column: str, fraction: float, positions: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """The latest `fraction` of the rows by time, cut on a timestamp: rows sharing the cut's timestamp all go to
    the later part, so a timestamp is never on both sides. `positions`: the rows in content order, which rows
    sharing a timestamp then follow (else the frame's order: a training part, already in content order)."""
    if positions is None:
        ordered = frame.sort_values(time_column, kind="stable")
    else:
        times = frame[time_column].take(positions).reset_index(drop=True)
        ordered = frame.take(positions[times.sort_values(kind="stable").index.to_numpy()])
    cut_at = min(len(ordered) - 1, round(len(ordered) * (1 - fraction)))
    cut_time = ordered[time_column].iloc[cut_at]
    later = ordered[time_column] >= cut_time
    return ordered[~later], ordered[later], cut_time


def time_holdout_rows(times: pd.Series, fraction: float) -> int:
    """How many of these rows a time split of `fraction` holds out: the cut retrain's split makes (rows sharing the
    cut's timestamp all held out), so `mlops init` can say the share the retrain will really hold out."""
    if len(times) < 2:
        return len(times)
    return len(_time_cut(pd.DataFrame({"t": times.reset_index(drop=True)}), "t", fraction)[1])


def tie_note(held: int, rows: int, asked: float) -> str:
    """What a time split says when the rows sharing the cut's timestamp (all held out) moved the holdout off the
    fraction asked by a whole percentage point or more."""
    if not rows or abs(held / rows - asked) < 0.01:
        return ""
    return (
        f" (holdout {held / rows:.0%} of the rows, not the {asked:.0%} asked: rows sharing a timestamp stay on one "
        "side, so the cut moves to a timestamp boundary)"
    )


def _key_text(key: list[str], data: Data) -> str:
    if data.split.key:
        return f"row key {', '.join(key)}"
    if key == [data.time_column]:
        return f"timestamp ({data.time_column})"
    return "row content"


# An object column's values, each as a code into the names of the types found in it (see object_kinds).
Kinds = dict[int, tuple["np.ndarray", list[str]]]


def object_kinds(frame: pd.DataFrame) -> Kinds:
    """For each object column (by position), its values' types: a code per value into the type names. pandas'
    value hash does not tell 1 from "1" there (nor True from 1), where a model and a GX suite do, so both content
    hashes (frame_sha256, stream.Fingerprint) take the types beside the values. Looked at once per batch and
    shared by the two, by C-level maps (`type`, a dict lookup), not a Python step per value."""
    import numpy as np

    out: Kinds = {}
    for col, dtype in enumerate(frame.dtypes):
        if not pd.api.types.is_object_dtype(dtype):
            continue
        types = list(map(type, frame.iloc[:, col].to_numpy()))
        if types and types.count(types[0]) == len(types):  # one type, the common case: no lookup per value
            out[col] = (np.zeros(len(types), dtype=np.intp), [types[0].__name__])
            continue
        found = {t: i for i, t in enumerate(dict.fromkeys(types))}  # in order of first appearance
        out[col] = (
            np.fromiter(map(found.__getitem__, types), dtype=np.intp, count=len(types)),
            [t.__name__ for t in found],
        )
    return out


def typed_hashes(
    frame: pd.DataFrame, row_hashes: np.ndarray | None = None, kinds: Kinds | None = None
) -> np.ndarray:
    """A uint64 per row from its values and, in an object column, each value's type (see object_kinds): pandas'
    `hash_pandas_object(frame, index=False)` (`row_hashes`, when the caller has it) with the hash of each value's
    type name mixed in, so 1 and "1" give two rows."""
    import numpy as np

    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy() if row_hashes is None else row_hashes
    for codes, names in (object_kinds(frame) if kinds is None else kinds).values():
        rows = rows * np.uint64(1_000_003) ^ pd.util.hash_array(np.array(names, dtype=object))[codes]
    return np.asarray(rows, dtype=np.uint64)


def content_sha256(header: bytes, typed: np.ndarray) -> str:
    """The identity of a batch of rows: its header (column names and types) and its rows' typed hashes SORTED, so
    the same rows in any order (a database's scan, a folder's file order, a shuffled CSV) are the same data, and
    a row that appears twice counts twice."""
    import numpy as np

    digest = hashlib.sha256(header)
    digest.update(np.sort(typed).tobytes())
    return digest.hexdigest()


def frame_header(frame: pd.DataFrame) -> bytes:
    """Column names and types: a part of the content identity (the same values as int or as text differ)."""
    return ("\x1f".join(map(str, frame.columns)) + "\x1d" + "\x1f".join(map(str, frame.dtypes))).encode()


def frame_sha256(
    frame: pd.DataFrame, row_hashes: np.ndarray | None = None, kinds: Kinds | None = None
) -> str:
    """A content hash of a frame (values, column names and types; not the index, not the rows' order): the data
    snapshot's identity, behind the retrain's idempotency key, the lineage digest and the gate's memo. The types
    count (see object_kinds): without them, the same key would reuse a model trained on other data. The order does
    not: a source returns its rows in an order of its own (a database's plan, a folder's files), and the same rows
    must name the same data. `row_hashes` (pandas' hash of each row, `hash_pandas_object(frame, index=False)`, the
    costly part) and `kinds` (object_kinds): when the caller has them already."""
    return content_sha256(frame_header(frame), typed_hashes(frame, row_hashes, kinds))


@dataclass(frozen=True)
class Identity:
    """A frame's identity (frame_sha256) and its rows' content order: `order` lists the row positions sorted by
    time (when there is a time column) then by the rows' typed hashes, which `split` follows."""

    sha256: str
    order: np.ndarray


def identify(frame: pd.DataFrame, time_column: str | None = None) -> Identity:
    """The frame's frame_sha256 and its rows' content order, from one pass of row hashes.

    Whatever order the source returned the rows in, training sees them in the same order: the split draws each
    row's side by its key, but a model fits the rows in the order given (HistGradientBoosting's early-stopping
    draw and a forest's bootstrap take rows by position), so the same rows read in two orders trained two models.
    Rows that tie in the order have equal typed hashes: equal in every value, so their order cannot matter. The
    order is by `time_column` first (datetimes or numbers), then by hash: a table stored in time order (the common
    case: rows appended as they happen) is then taken nearly in sequence, where a take in hash order is a gather
    in random order (docs/benchmarks.md: 0.46 s against 2.5 s for the two parts of 982k rows, load 13). The split takes its
    parts in this order (a take it made anyway): what this adds is two argsorts, where an ORDER BY on
    every column made the database's read 1.4-2.2x slower."""
    import numpy as np

    typed = typed_hashes(frame)
    order = np.argsort(typed, kind="stable")
    if time_column and time_column in frame.columns:
        col = frame[time_column]
        key = None
        if pd.api.types.is_datetime64_any_dtype(col):
            key = comparable(col).to_numpy().view("i8")  # NaT first
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            key = col.to_numpy(dtype="float64", na_value=np.nan)  # NaN last
        if key is not None:
            order = order[np.argsort(key[order], kind="stable")]
    return Identity(content_sha256(frame_header(frame), typed), order)


def reference_sample(
    parts: SplitData, target: str, time_column: str | None, max_rows: int, seed: int
) -> pd.DataFrame:
    """The rows the monitor will compare new batches against (seeded sample, features and target): the HOLDOUT's,
    never the training rows, so the reference predictions and quality are the champion's on data it did not
    learn (the same rows its holdout metrics, the monitor's reference quality, come from)."""
    columns = [*parts.features.all, target, *([time_column] if time_column else [])]
    frame = parts.holdout[columns]
    # drawn by the rows' values, as the drift report's sample is (tasks/drift_summary.py)
    if len(frame) > max_rows:
        from tasks.data.draw import draw_sample

        frame = draw_sample(frame, max_rows, seed, "drift")
    return frame.reset_index(drop=True)


def validation_split(parts: SplitData, loaded: LoadedSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a validation part out of the training part, the same way the holdout was carved (for choosing
    among candidates without looking at the holdout): a stable draw per row key with its own salt, or a cut on a
    timestamp, so rows sharing a timestamp are never on both sides."""
    data, cfg = loaded.spec.data, loaded.spec.data.split
    train = parts.train
    if cfg.strategy == "time":
        fit, validation, cut_time = _time_cut(train, data.time_column or "", cfg.holdout_fraction)
        what = f"every training row shares the timestamp {cut_time}"
    else:
        key = list(parts.key) or row_key(train, data)
        held = in_holdout(row_hashes(train, key), cfg.seed, cfg.holdout_fraction, "validation")
        fit, validation = train[~held], train[held]
        what = f"the draw per {_key_text(key, data)} left {len(fit)} fitting and {len(validation)} validation rows"
    if len(fit) < 2 or len(validation) < 1:
        model = loaded.spec.model
        asked = [
            why
            for declared, why in (
                (model.search, ("score model.search's trials", "model.search")),
                (model.candidates, ("choose among model.candidates", "model.candidates")),
                (model.early_stopping_rounds is not None, ("stop early", "model.early_stopping_rounds")),
            )
            if declared
        ] or [("choose a model", "what needs it")]
        raise DataError(
            f"cannot carve a validation part out of the {len(train)} training rows to "
            f"{' and '.join(a for a, _ in asked)}: {what}; use more data or remove {' and '.join(f for _, f in asked)}."
        )
    return fit, validation
