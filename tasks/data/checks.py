"""Whether data can be used: the training data as loaded (read, windowed, then checked against the spec) and a
monitored batch against the champion's inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops.errors import DataError
from mlops.spec import LoadedSpec
from mlops.text import shown
from tasks.data.readers import as_time, in_window, read_frame, source_label
from tasks.data.splits import Features, empty_declared


def load(loaded: LoadedSpec) -> pd.DataFrame:
    """Read the source, restrict it to the declared window, and check it can train this spec."""
    data = loaded.spec.data
    window = (data.window.start, data.window.end) if data.window else (None, None)
    frame = read_frame(loaded, start=window[0], end=window[1])  # pushed down into a Parquet dataset
    if data.time_column and data.time_column in frame.columns:
        frame[data.time_column] = as_time(frame[data.time_column])
        if data.window:
            frame = in_window(frame, data.time_column, data.window.start, data.window.end)
    check_trainable(frame, loaded)
    return frame.reset_index(drop=True)


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
    empty_declared(frame, data, name)
    for col in data.features.numeric or []:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            bad = pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()
            example = frame.loc[bad, col].head(1).tolist()
            raise DataError(
                f"{name}: column '{col}' is declared numeric but holds text"
                + (f" (e.g. {shown(example[0])})" if example else "")
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
            f"{name}: the target '{data.target}' has a single class ({shown(y.iloc[0])}); a classifier needs at least "
            "two. Widen data.window or check the source."
        )
    if task_kind == "classification" and (why := continuous_target(y)):
        raise DataError(f"{name}: {continuous_target_message(data.target, why)}")
    if task_kind == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise DataError(
            f"{name}: the target '{data.target}' is not numeric ({y.dtype}); use task: classification?"
        )


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
                + (f", e.g. {shown(example[0])}" if example else "")
            )
    extra = [str(c) for c in batch.columns if c not in reference.columns]
    if extra:
        notes.append(f"columns not used by the model were ignored: {', '.join(extra[:10])}")
    return errors, notes


def set_aside_unscorable(batch: pd.DataFrame, features: Features) -> tuple[pd.DataFrame, list[str]]:
    """The batch less the rows `mlops predict` would reject because a numeric feature holds text that is not a
    number ('?', 'unknown': a CSV then reads the whole column as text), those columns read as numbers, and a note
    counting the rows set aside. The quality gate tolerated them (its `mostly`); the monitor judges the others. A
    column with no number at all, or with only numbers stored as text, is left as it is (check_batch then says it
    is not numeric)."""
    converted: dict[str, pd.Series] = {}
    bad_rows = pd.Series(False, index=batch.index)
    said = []
    for col in features.numeric:
        if col not in batch.columns:
            continue
        values = batch[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        present = values.notna()
        numbers = pd.to_numeric(values.where(~present, values.astype(str).str.strip()), errors="coerce")
        bad = present & numbers.isna()
        if not numbers.notna().any() or not bad.any():
            continue  # all text, or numbers stored as text (a Parquet schema change): check_batch names it
        converted[col] = numbers
        bad_rows |= bad
        if bad.any():
            examples = ", ".join(shown(v) for v in values[bad].head(3).tolist())
            said.append(f"'{col}': {int(bad.sum()):,}, e.g. {examples}")
    if not converted:
        return batch, []
    kept = batch.assign(**converted).loc[~bad_rows]
    n = int(bad_rows.sum())
    return kept, [
        f"{n:,} of {len(batch):,} rows set aside, not judged: a numeric feature holds text that is not a number "
        f"({'; '.join(said)}); the suite tolerates a few such rows, and `mlops predict` lists them in its rejects "
        "file"
    ]


def check_batch(batch: pd.DataFrame, reference: pd.DataFrame, features: Features) -> list[str]:
    """Raise DataError when the batch cannot be scored by the champion; return notes otherwise."""
    errors, notes = batch_problems(batch, reference, features)
    if errors:
        raise DataError("the batch does not match the champion's inputs: " + "; ".join(errors) + ".")
    return notes


def has_labels(frame: pd.DataFrame, target: str) -> bool:
    """Whether a batch carries labels (the monitor then also judges model quality and checks the target)."""
    return target in frame.columns and bool(frame[target].notna().any())


def continuous_target(y: pd.Series) -> str | None:
    """Why a classification target looks like a measurement rather than classes (numbers with fractions, e.g. a
    price), or None: scikit-learn would refuse it with its own message and hundreds of values."""
    if not pd.api.types.is_float_dtype(y) or y.empty:
        return None
    values = y.to_numpy(dtype=float)
    fractional = values[np.isfinite(values) & (values != np.round(values))]
    if fractional.size == 0:
        return None
    examples = ", ".join(shown(v) for v in pd.unique(fractional)[:3])
    return f"{y.nunique():,} distinct values, with fractions (e.g. {examples})"


def continuous_target_message(target: str, why: str) -> str:
    return (
        f"the target '{target}' looks continuous ({why}), but model.task is classification; a classifier needs "
        "a few classes. If the target is a quantity, set `model.task: regression` with a regression estimator "
        "and metric (e.g. sklearn.ensemble.HistGradientBoostingRegressor, promotion.metric: rmse); if it holds "
        "classes, give them as whole numbers or text."
    )
