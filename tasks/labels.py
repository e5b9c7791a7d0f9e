"""Labels that arrive later (pandas, pyarrow): predict keeps what it predicted per id under MLOPS_HOME
(`predictions/<pipeline>/batches/<batch id>-v<version>.parquet`, one file a batch and model version, replaced when
the same batch is predicted again); the monitor reads the labels source, joins the labels that have arrived to the
predictions they belong to and reports each period's realised quality beside the estimate it gave before them
(`predictions/<pipeline>/estimates/`). The decisions (which labels count, the share rule, the verdict) are
mlops.labels'; this module reads, joins and writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops import labels as policy
from mlops.catalog import Task
from mlops.labels import LabelReport, LabelsRefused
from mlops.object_store import is_object_uri
from mlops.quality_floor import QualityFloor
from mlops.settings import get_settings
from mlops.spec import LoadedSpec
from mlops.timeutil import DAY_MONTH, DAY_MONTH_WHY
from mlops.write_targets import atomic_files
from tasks.data.stream import BatchSource, batch_chunks

BATCH_ID, BATCH, PREDICTED_AT = "batch_id", "batch", "predicted_at"
LABEL = "label"
CLASSES_KEY = b"mlops.classes"


def store_dir(pipeline: str) -> Path:
    """Where a pipeline's predictions by id and its estimates are kept (under MLOPS_HOME)."""
    return get_settings().home / "predictions" / pipeline


def check_ids(source: BatchSource, id_column: str, chunk_rows: int = 100_000) -> int:
    """Before any row is scored: LabelsRefused (exit 2) when the batch lacks `id_column`, or a value of it is empty
    or repeated (a label could not say which prediction it belongs to). Returns the number of ids."""
    seen: list[pd.Series] = []
    for chunk in batch_chunks(source, chunk_rows):
        if id_column not in chunk.columns:
            raise LabelsRefused(
                f"the batch {source.label} has no column '{id_column}' (data.id_column), which predictions are kept "
                f"by and labels joined to; its columns are: {', '.join(map(str, chunk.columns))}. Add the id to "
                "the batch, or correct data.id_column. Nothing was scored or written."
            )
        seen.append(chunk[id_column])
    ids = pd.concat(seen) if seen else pd.Series(dtype=object)
    empty = int(ids.isna().sum())
    repeated = ids[ids.duplicated(keep=False) & ids.notna()]
    if empty or len(repeated):
        parts = []
        if empty:
            parts.append(f"{empty:,} row(s) have no '{id_column}'")
        if len(repeated):
            shown = ", ".join(map(str, repeated.drop_duplicates().head(5)))
            parts.append(
                f"{repeated.nunique():,} value(s) of '{id_column}' appear more than once (e.g. {shown})"
            )
        raise LabelsRefused(
            f"the batch {source.label}: {'; '.join(parts)}. Each row needs its own id (data.id_column) so that a "
            "label arriving later joins one prediction; fix the batch or the id column. Nothing was scored or "
            "written."
        )
    return len(ids)


def _batch_file(pipeline: str, batch_id: str, version: str) -> Path:
    return store_dir(pipeline) / "batches" / f"{batch_id}-v{version}.parquet"


def keep_predictions(
    predictions: str,
    *,
    pipeline: str,
    id_column: str,
    time_column: str | None,
    batch_id: str,
    batch: str,
    model_version: str,
    classes: list[Any],
) -> str:
    """Keep the predictions of a scored batch by id (the id, the time column, the outputs and the model's lineage
    read from the predictions file predict wrote), replacing an earlier file of the same batch and version.
    Written atomically: readers see the old file or the new one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = pq.read_schema(predictions).names
    wanted = [id_column, *([time_column] if time_column else [])]
    wanted += [n for n in names if n in ("prediction", "prediction_proba") or n.startswith("proba_")]
    wanted += ["model_name", "model_version", "model_run_id"]
    table = pq.read_table(predictions, columns=[n for n in dict.fromkeys(wanted) if n in names])
    n = table.num_rows
    table = table.append_column(BATCH_ID, pa.array([batch_id] * n, pa.string()))
    table = table.append_column(BATCH, pa.array([batch] * n, pa.string()))
    stamp = pd.Timestamp.now(tz="UTC")
    table = table.append_column(PREDICTED_AT, pa.array([stamp] * n, pa.timestamp("us", tz="UTC")))
    meta = dict(table.schema.metadata or {}) | {
        CLASSES_KEY: json.dumps([_plain(c) for c in classes]).encode()
    }
    table = table.replace_schema_metadata(meta)
    target = _batch_file(pipeline, batch_id, model_version)
    with atomic_files(target) as (tmp,):
        pq.write_table(table, tmp)
    return str(target)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def read_predictions(pipeline: str) -> list[tuple[pd.DataFrame, list[Any]]]:
    """Every kept batch of predictions, with the classes of the model that made it."""
    import pyarrow.parquet as pq

    folder = store_dir(pipeline) / "batches"
    out = []
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        table = pq.read_table(path)
        classes = json.loads((table.schema.metadata or {}).get(CLASSES_KEY, b"[]"))
        out.append((table.to_pandas(), classes))
    return out


@dataclass(frozen=True)
class Arrived:
    """The labels that count at the as-of time, one per id (`id`, `label`), and what was read."""

    frame: pd.DataFrame
    read: int
    without_id: int
    files: int


def read_labels(loaded: LoadedSpec, as_of: datetime) -> Arrived:
    """The labels source (a file, glob or folder of CSV or Parquet, or a sql table or query), the labels that count
    at `as_of` (mlops.labels.counts; a later label of an id replaces an earlier one). LabelsRefused (exit 2) naming the file when a column the spec
    names is missing or a known_at value is not a time. No file yet: no labels (they have not arrived)."""
    import glob

    spec = loaded.spec
    assert spec.labels is not None and spec.data.id_column is not None
    cfg = spec.labels
    id_col = cfg.id_column or spec.data.id_column
    label_col = cfg.label_column or spec.data.target
    known_col = cfg.known_at_column
    needed = [c for c in (id_col, label_col, known_col) if c]
    if cfg.source.kind == "sql":
        return _arrived(_sql_labels(loaded, needed, known_col, as_of), id_col, label_col, known_col, as_of, 1)
    if cfg.source.kind not in ("csv", "parquet") or not cfg.source.path:
        # never an empty read that looks like "no labels yet": a source this reader cannot read is said so
        raise LabelsRefused(
            f"labels.source: kind {cfg.source.kind} is not read for labels; give a CSV or Parquet file, glob or "
            "folder, or a sql table or query. Nothing was judged or recorded."
        )
    files: list[Path] | list[str]
    if is_object_uri(cfg.source.path):  # objects in a store: none there yet is no labels yet
        from tasks.objects import NoObjects, expand

        try:  # a bucket that is not there is a wrong path (ObjectMissing), not labels still to come
            files = expand(cfg.source.path)
        except NoObjects:
            files = []
    else:
        pattern = str(loaded.resolve(cfg.source.path))
        folder = Path(pattern)
        if folder.is_dir():
            files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        else:
            files = sorted(map(Path, glob.glob(pattern))) if glob.has_magic(pattern) else [folder]
            files = [f for f in files if f.is_file()]
    parts = []
    for f in files:
        if isinstance(f, str):
            from tasks.data.readers import read_file

            frame = read_file(f, cfg.source.kind)
        else:
            frame = pd.read_parquet(f) if cfg.source.kind == "parquet" else pd.read_csv(f)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise LabelsRefused(
                f"labels file {f} has no column {', '.join(repr(c) for c in missing)} (the labels section names "
                f"id {id_col!r}, label {label_col!r}"
                + (f", known_at {known_col!r}" if known_col else "")
                + f"); its columns are: {', '.join(map(str, frame.columns))}. Correct labels.id_column, "
                "labels.label_column or labels.known_at_column, or the file. Nothing was judged or recorded."
            )
        parts.append(frame[needed])
    if not parts:
        return Arrived(pd.DataFrame({"id": [], LABEL: []}), 0, 0, 0)
    return _arrived(pd.concat(parts, ignore_index=True), id_col, label_col, known_col, as_of, len(files))


def _sql_labels(
    loaded: LoadedSpec, needed: list[str], known_col: str | None, as_of: datetime
) -> pd.DataFrame:
    """The labels of a `kind: sql` source (tasks.data.sql: the URL from its variable, read-only, the known_at
    bound pushed into the query as a parameter); LabelsRefused naming a column the table or query lacks."""
    from tasks.data.sql import SqlSource, read

    cfg = loaded.spec.labels
    assert cfg is not None
    src = SqlSource(
        cfg.source.url_env or "", cfg.source.table, cfg.source.query, str(loaded.root), str(loaded.path),
        cfg.source.url or "",
    )  # fmt: skip

    def pick(names: list[str]) -> list[str]:
        missing = [c for c in needed if c not in names]
        if missing:
            raise LabelsRefused(
                f"labels: the sql {src.what} has no column {', '.join(repr(c) for c in missing)}; its columns are: "
                f"{', '.join(names)}. Correct labels.id_column, labels.label_column or labels.known_at_column. "
                "Nothing was judged or recorded."
            )
        return needed

    # labels known after as_of are left in the database (the bound is a parameter, never SQL text)
    cutoff = as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    return read(
        src, pick, time_column=known_col, end=cutoff + timedelta(microseconds=1) if known_col else None
    )


def _arrived(
    raw: pd.DataFrame, id_col: str, label_col: str, known_col: str | None, as_of: datetime, files: int
) -> Arrived:
    """The labels that count (mlops.labels.counts), one per id (the latest known), and what was read."""
    read = len(raw)
    if known_col:
        text = raw[known_col].dropna().astype(str)
        day_month = (
            text[text.str.fullmatch(DAY_MONTH)]
            if not pd.api.types.is_datetime64_any_dtype(raw[known_col])
            else text.iloc[:0]
        )
        if len(day_month):
            raise LabelsRefused(
                f"labels: in {len(day_month):,} value(s) of '{known_col}' (labels.known_at_column), e.g. "
                f"{day_month.iloc[0]!r}, {DAY_MONTH_WHY}. Nothing was judged or recorded."
            )
        known = pd.to_datetime(raw[known_col], errors="coerce", utc=True)
        bad = raw[known_col].notna() & known.isna()
        if bad.any():
            raise LabelsRefused(
                f"labels: {int(bad.sum()):,} value(s) of '{known_col}' (labels.known_at_column) are not times (e.g. "
                f"{raw.loc[bad, known_col].iloc[0]!r}); give ISO dates such as 2013-07-02T10:00. Nothing was judged "
                "or recorded."
            )
        cutoff = pd.Timestamp(as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
        arrived = np.fromiter(
            (policy.counts(None if pd.isna(k) else k.to_pydatetime(), cutoff.to_pydatetime()) for k in known),
            dtype=bool,
            count=len(known),
        )
        raw = raw.assign(_known=known)[arrived].sort_values("_known", kind="stable", na_position="first")
    without_id = int(raw[id_col].isna().sum())
    raw = raw[raw[id_col].notna()]
    # a later label of an id replaces an earlier one (a correction)
    latest = raw.drop_duplicates(subset=[id_col], keep="last")
    frame = pd.DataFrame({"id": latest[id_col].to_numpy(), LABEL: latest[label_col].to_numpy()})
    return Arrived(frame, read, without_id, files)


def _join_keys(ids: pd.Series, other: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ids as the join compares them: numbers when both sides hold numbers, else text (1 and '1' then meet)."""
    if pd.api.types.is_numeric_dtype(ids) and pd.api.types.is_numeric_dtype(other):
        return ids, other
    return ids.astype(str), other.astype(str)


def _labels_as(labels: pd.Series, classes: list[Any], task: Task, column: str) -> pd.Series:
    """The labels in the type of the model's outputs; LabelsRefused (exit 2) when they cannot be (text where the
    model predicts numbers)."""
    numeric = task == "regression" or (bool(classes) and all(isinstance(c, int | float) for c in classes))
    if not numeric:
        return labels.astype(str).where(labels.notna())
    values = pd.to_numeric(labels, errors="coerce")
    bad = labels.notna() & values.isna()
    if bad.any():
        raise LabelsRefused(
            f"labels: the label column '{column}' holds {int(bad.sum()):,} value(s) that are not numbers (e.g. "
            f"{labels[bad].iloc[0]!r}), but the model predicts numbers"
            + (f" (its classes: {', '.join(map(str, classes))})" if classes else "")
            + ". Give the labels in the target's own values (labels.label_column). Nothing was judged or recorded."
        )
    return values


def _estimate_file(pipeline: str, batch_id: str, version: str) -> Path:
    return store_dir(pipeline) / "estimates" / f"{batch_id}-v{version}.json"


def read_estimate(pipeline: str, batch_id: str, version: str) -> dict[str, Any] | None:
    path = _estimate_file(pipeline, batch_id, version)
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def record_estimate(
    pipeline: str, batch_id: str, version: str, metric: str, estimated: float, share: float
) -> None:
    """The estimate a monitor gave for a period it judged without (enough) labels, kept to be set beside the
    realised figure once they arrive. Written atomically; a later estimate of the same period replaces it."""
    path = _estimate_file(pipeline, batch_id, version)
    record = {
        "metric": metric,
        "estimated": estimated,
        "label_share": share,
        "at": datetime.now(UTC).isoformat(),
    }
    with atomic_files(path) as (tmp,):
        tmp.write_text(json.dumps(record))


def label_report(
    loaded: LoadedSpec,
    *,
    champion_version: str,
    reference: float | None,
    floor: QualityFloor | None,
    batch_id: str | None,
    estimated: float | None,
    as_of: datetime | None = None,
) -> LabelReport | None:
    """Join the labels that have arrived to the kept predictions and judge each period (mlops.labels); the
    monitored batch (`batch_id`, by the champion), when kept and not yet judged, gets `estimated` recorded, to be
    set beside its realised figure when the labels come. None when the spec has no labels section."""
    from tasks.train import metrics_of

    spec = loaded.spec
    if spec.labels is None:
        return None
    metric, task = spec.promotion.metric, spec.model.task
    id_col = spec.data.id_column or ""
    arrived = read_labels(loaded, as_of or datetime.now(UTC))
    label_col = spec.labels.label_column or spec.data.target
    kept = [(frame, classes) for frame, classes in read_predictions(spec.name) if not frame.empty]
    known_ids = [frame[id_col] for frame, _ in kept]
    # one prediction per id and model version: the latest batch takes an id (mlops.labels.claim_order)
    trimmed = _latest_only(kept, id_col)
    periods: list[policy.Period] = []
    # the labels keyed for the join once per kind of id and set of classes, not once per period: converting and
    # indexing every arrived label for each kept period made a run grow with periods x labels
    truths: dict[tuple[bool, str], pd.Series] = {}
    for (whole, _), ((frame, classes), superseded) in zip(kept, trimmed, strict=True):
        left, right = _join_keys(frame[id_col], arrived.frame["id"])
        key = (
            pd.api.types.is_numeric_dtype(frame[id_col]),
            json.dumps([_plain(c) for c in classes], default=str),
        )
        if key not in truths:
            truths[key] = pd.Series(
                _labels_as(arrived.frame[LABEL], classes, task, label_col).to_numpy(), index=right.to_numpy()
            )
        y = left.map(truths[key])
        have = y.notna().to_numpy()
        version = str(whole["model_version"].iloc[0])
        this_id = str(whole[BATCH_ID].iloc[0])
        realised, unavailable = None, None
        if have.any():
            rows = frame[have]
            proba = _proba(rows, classes)
            scores = metrics_of(y[have].to_numpy(), rows["prediction"].to_numpy(), proba, classes, task)
            value = scores.get(metric)
            if value is not None and np.isfinite(value):
                realised = float(value)
            elif task == "classification" and pd.Series(y[have]).nunique() < 2:
                unavailable = f"its {int(have.sum()):,} labels hold a single class"
            else:
                unavailable = "it cannot be computed on these labels"
        is_champion = version == champion_version
        verdict = policy.judge_period(
            metric=metric, predicted=len(frame), labelled=int(have.sum()), min_share=spec.monitoring.min_label_share,
            realised=realised, reference=reference if is_champion else None,
            higher_is_better=spec.direction == "maximize", max_quality_drop=spec.monitoring.max_quality_drop,
            floor=floor if is_champion else None, unavailable=unavailable,
        )  # fmt: skip
        share = policy.label_share(len(frame), int(have.sum()))
        earlier = read_estimate(spec.name, this_id, version)
        earlier_value = earlier.get("estimated") if earlier and earlier.get("metric") == metric else None
        if this_id == batch_id and is_champion and not verdict.judged and estimated is not None:
            record_estimate(spec.name, this_id, version, metric, estimated, share)
            earlier_value = estimated
        periods.append(
            policy.Period(
                batch=str(whole[BATCH].iloc[0]), batch_id=this_id, model_version=version, predicted=len(frame),
                labelled=int(have.sum()), realised=realised, verdict=verdict, estimated=earlier_value,
                trust=policy.trust(earlier_value, realised) if verdict.judged else None, superseded=superseded,
            )
        )  # fmt: skip
    ids = pd.concat(known_ids) if known_ids else pd.Series(dtype=object)
    left, right = _join_keys(arrived.frame["id"], ids)
    unknown = int((~left.isin(set(right))).sum())
    return LabelReport(
        metric=metric, min_share=spec.monitoring.min_label_share, periods=tuple(periods), labels_read=arrived.read,
        without_id=arrived.without_id, unknown_ids=unknown,
    )  # fmt: skip


def _latest_only(
    kept: list[tuple[pd.DataFrame, list[Any]]], id_col: str
) -> list[tuple[tuple[pd.DataFrame, list[Any]], int]]:
    """Each kept batch without the ids a later batch of the same model version predicted again (mlops.labels:
    the latest prediction of an id is the one judged), with how many were left out; in the batches' order."""
    order = policy.claim_order(
        [(pd.Timestamp(f[PREDICTED_AT].max()).to_pydatetime(), str(f[BATCH_ID].iloc[0])) for f, _ in kept]
    )
    # one pass over every kept id: rows in the order the periods claim them, an id (per version) seen before is
    # taken already (pandas' duplicated; a set grown per period made this periods x ids)
    if not kept:
        return []
    rank = np.empty(len(kept), dtype=np.int64)
    rank[order] = np.arange(len(kept))
    rows = pd.DataFrame(
        {
            "version": np.concatenate([f["model_version"].astype(str).to_numpy() for f, _ in kept]),
            "id": pd.concat([f[id_col].astype(str) for f, _ in kept], ignore_index=True).to_numpy(),
            "which": np.concatenate([np.full(len(f), i) for i, (f, _) in enumerate(kept)]),
            "pos": np.concatenate([np.arange(len(f)) for f, _ in kept]),
        }
    )
    rows["rank"] = rank[rows["which"].to_numpy()]
    rows = rows.sort_values(["rank", "pos"], kind="stable")
    again_rows = rows[rows.duplicated(["version", "id"], keep="first")]
    out: list[tuple[tuple[pd.DataFrame, list[Any]], int]] = [((f, c), 0) for f, c in kept]
    which, pos = again_rows["which"].to_numpy(), again_rows["pos"].to_numpy()
    for i in np.unique(which).tolist():
        frame, classes = kept[i]
        again = np.zeros(len(frame), dtype=bool)
        again[pos[which == i]] = True
        out[i] = ((frame[~again].reset_index(drop=True), classes), int(again.sum()))
    return out


def _proba(rows: pd.DataFrame, classes: list[Any]) -> np.ndarray | None:
    """The class probabilities as the metric functions take them (one column per class, in the model's order)."""
    if "prediction_proba" in rows.columns and len(classes) == 2:
        p = rows["prediction_proba"].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])
    cols = [f"proba_{c}" for c in classes]
    if classes and all(c in rows.columns for c in cols):
        return rows[cols].to_numpy(dtype=float)
    return None
