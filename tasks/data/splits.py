"""Splitting the data into train and holdout (seeded; a time split holds out the latest rows), the features
the model trains on, the data snapshot's hash, and the reference sample the monitor compares batches with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from mlops.errors import DataError
from mlops.spec import Data, LoadedSpec


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


def reference_sample(
    parts: SplitData, target: str, time_column: str | None, max_rows: int, seed: int
) -> pd.DataFrame:
    """The training rows the monitor will compare new batches against (seeded sample, features and target)."""
    columns = [*parts.features.all, target, *([time_column] if time_column else [])]
    frame = parts.train[columns]
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).sort_index(kind="stable")
    return frame.reset_index(drop=True)


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
