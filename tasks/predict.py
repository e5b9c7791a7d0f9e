"""Batch scoring (pandas, pyarrow): a model scores a batch chunk by chunk, rows it cannot score go to a rejects
file with the reason, and the predictions are written as Parquet with the model's lineage on every row and in
the file's metadata. Both files are written atomically: a temporary file in the target folder, renamed when
complete, so a failed run leaves no partial file (and an earlier file of the same name untouched)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.data_policy import MISSING, unjudgeable_features, unjudgeable_refusal
from mlops.errors import BadOption, DataError
from mlops.object_store import is_object_uri, rejects_uri
from mlops.settings import get_settings
from mlops.spec import LoadedSpec
from mlops.text import did_you_mean
from mlops.write_targets import (
    OutputRefused,
    TableTarget,
    atomic_files,
    batch_reads,
    check_targets,
    table_problem,
    table_target,
)
from tasks.data.draw import SmallestDraws
from tasks.data.splits import Features
from tasks.data.stream import BatchSource, batch_chunks
from tasks.drift_summary import SAMPLE_SALT

PREDICTION, PROBA = "prediction", "prediction_proba"  # the names tasks.train.predict gives them
LINEAGE = ("model_name", "model_version", "model_run_id")
ROW, REASON = "row", "reject_reason"
META_PREFIX = "mlops."


@dataclass(frozen=True)
class ModelRef:
    """Which model scored the rows: written on every row and into the file's metadata."""

    name: str
    version: str
    run_id: str

    def columns(self) -> dict[str, str]:
        return dict(zip(LINEAGE, (self.name, self.version, self.run_id), strict=True))


@dataclass(frozen=True)
class Scored:
    """What a batch scoring wrote: counts, the files, why rows were rejected, and a seeded sample of the scored
    rows (the rows the monitor's own seeded sample of this batch would draw) for the tracking run."""

    rows: int
    scored: int
    rejected: int
    out: str
    rejects: str
    reasons: dict[str, int]
    chunks: int
    sample: pd.DataFrame = field(repr=False)
    columns: list[str] = field(default_factory=list)


def rejects_path(out: Path) -> Path:
    """Where the rejected rows of `out` go: beside it, `NAME.rejects.csv` (CSV holds any value, even the text
    that made a row unscorable)."""
    return out.with_name(f"{out.stem}.rejects.csv")


def run_reads(loaded: LoadedSpec, batch: str | None) -> list[Path]:
    """Every file a predict run reads, which no output may replace: the batch (each file of a glob), the spec, its
    suite, and the spec's source (its files, and the folder of a dataset: nothing is written inside it either)."""
    spec = loaded.spec
    reads = [*batch_reads(batch), loaded.path]
    if spec.quality:
        reads.append(loaded.resolve(spec.quality.suite))
    if (
        spec.data.source.kind != "builtin"
        and spec.data.source.path
        and not is_object_uri(spec.data.source.path)
    ):
        reads += loaded.data_files()
        folder = loaded.resolve(spec.data.source.path)
        if folder.is_dir():
            reads.append(folder)
    return reads


def staged_out(pipeline: str, target: TableTarget, batch_id: str = "batch") -> Path:
    """Where predictions bound for a table are written first (Parquet under MLOPS_HOME, the rejects beside; one
    file a batch, so two batches for one table never share it): the table then takes them in one transaction, so a
    failed run leaves no partial batch in it."""
    return get_settings().home / "predictions" / pipeline / "staging" / f"{target.table}-{batch_id}.parquet"


def discard_staged(staged: str | Path, keep_rejects: bool) -> str:
    """Remove the Parquet file predictions bound for a table were staged in (once the table took them, or the run
    failed), and its rejects file unless `keep_rejects` (it lists rows a person must see). Returns the rejects
    file kept, '' when none: staging never grows with the runs."""
    path = Path(staged)
    path.unlink(missing_ok=True)
    rejects = rejects_path(path)
    if keep_rejects and rejects.is_file():
        return str(rejects)
    rejects.unlink(missing_ok=True)
    return ""


def staged_object(pipeline: str, uri: str, batch_id: str = "batch") -> Path:
    """Where predictions bound for an object (`--out s3://b/p/preds.parquet`) are written first: Parquet under
    MLOPS_HOME (the rejects beside it); tasks.objects.upload then puts each whole (a temporary key copied onto the
    real one), so a failed run leaves no part in the store."""
    name = uri.rstrip("/").rpartition("/")[2]
    stem = name.rsplit(".", 1)[0]
    return get_settings().home / "predictions" / pipeline / "staging" / f"{stem}-{batch_id}.parquet"


def object_problem(loaded: LoadedSpec, batch: str | None, uri: str) -> str | None:
    """Why predictions cannot be written to the object `uri` (None: they can): it is the batch or one of the
    source's objects (or under its folder, or matched by its glob), a folder in the store, or the store refuses
    or does not answer (one HEAD request, before any work)."""
    import fnmatch

    from mlops.errors import MlopsError
    from tasks.objects import kind_of

    rejects = rejects_uri(uri)
    source = loaded.spec.data.source
    inputs = [
        p for p in (batch, source.path if source.kind in ("csv", "parquet") else None) if is_object_uri(p)
    ]
    for read in inputs:
        assert read is not None
        base = read.rstrip("/")
        for target in (uri, rejects):
            if target == read or target.startswith(base + "/") or fnmatch.fnmatchcase(target, read):
                return (
                    f"--out {uri}: {target} is {'an object' if target == read else 'under or matched by'} {read}, "
                    "which this run reads its data from; the next run would read it back as data (or it would "
                    "replace the input). Give a key outside it, e.g. a predictions/ prefix."
                )
    try:
        found = kind_of(uri)
    except MlopsError as exc:
        return f"--out {exc}"
    if found == "folder":
        return f"--out {uri} is a folder (a prefix holding objects); give an object name, e.g. {uri.rstrip('/')}/predictions.parquet."
    return None


def check_predict_targets(loaded: LoadedSpec, batch: str | None, out: str) -> None:
    """Before any work: every place predict writes (the predictions, the rejects file, the reports folder) can
    take its file and is none of the files the run reads; a table (`--out table:NAME@ENV_VAR`) is reachable by its
    variable and is no table the run reads; OutputRefused (exit 2) naming the path otherwise."""
    import glob
    import os

    table = table_target(out)
    if table is not None:
        spec = loaded.spec
        sources = [(s.url_env, s.table, s.query, s.url)
                   for s in (spec.data.source, spec.labels.source if spec.labels else None) if s is not None]  # fmt: skip
        problem = table_problem(table, os.environ, sources, run_reads(loaded, batch), loaded.root)
        if problem:
            raise OutputRefused(problem + " Nothing was run and nothing was written.")
    if is_object_uri(out):
        problem = object_problem(loaded, batch, out)
        if problem:
            raise OutputRefused(problem + " Nothing was run and nothing was written.")
    if table is not None:
        target = staged_out(loaded.spec.name, table)
    else:
        target = staged_object(loaded.spec.name, out) if is_object_uri(out) else Path(out)
    source = loaded.spec.data.source
    patterns = [
        p for p in (batch, source.path and str(loaded.resolve(source.path))) if p and glob.has_magic(p)
    ]
    check_targets(
        {"--out": target, "the rejects file": rejects_path(target)},
        run_reads(loaded, batch),
        {"the reports folder": get_settings().reports_dir(loaded.spec.name)},
        patterns,
    )


def refuse_unjudgeable(
    reference: pd.DataFrame,
    batch_values: dict[str, int],
    features: Features,
    allowed: Iterable[str],
    rows: int,
) -> list[str]:
    """Before any row is scored: DataError (exit 1) naming the features the model cannot judge in this batch (all
    null in it, values in the model's reference data: mlops.data_policy.unjudgeable_features), unless each such
    column is `allowed` (--allow-empty-feature); BadOption (exit 2) for an allowed name that is not a feature.
    Returns the allowed empty features, for the run's output."""
    allowed = list(dict.fromkeys(allowed))
    unknown = [c for c in allowed if c not in features.all]
    if unknown:
        guesses = [g for c in unknown if (g := did_you_mean(c, features.all))]
        hint = f"; did you mean {', '.join(repr(g) for g in guesses)}?" if guesses else ""
        raise BadOption(
            f"--allow-empty-feature {', '.join(unknown)}: not a feature of this model{hint} Its features are: "
            f"{', '.join(features.all)}."
        )
    train = {c: int(reference[c].notna().sum()) if c in reference.columns else 0 for c in features.all}
    found = unjudgeable_features(train, batch_values)
    stop = {c: why for c, why in found.items() if why == MISSING or c not in allowed}
    if stop:
        raise DataError(unjudgeable_refusal(stop, rows))
    return [c for c in found if c in allowed]


def unscorable(chunk: pd.DataFrame, features: Features, takes_nulls: dict[str, bool]) -> pd.Series:
    """The reason each row cannot be scored ("" when it can): a numeric feature holding text that is not a
    number, an infinite number, or a null where the model cannot take one. The first reason of a row is given."""
    reasons = pd.Series("", index=chunk.index, dtype=object)

    def mark(mask: pd.Series, text: Callable[[pd.DataFrame], pd.Series] | str) -> None:
        new = mask & (reasons == "")
        if new.any():
            reasons[new] = text(chunk.loc[new]) if callable(text) else text

    for col in features.numeric:
        raw = chunk[col]
        values = raw if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
        mark(raw.notna() & values.isna(), _not_a_number(col))
        mark(pd.Series(np.isinf(values.to_numpy(dtype=float)), index=chunk.index), f"'{col}' is infinite")
    for col in features.all:
        if not takes_nulls.get(col, True):
            mark(chunk[col].isna(), f"'{col}' is empty and the model cannot take an empty value")
    return reasons


def _not_a_number(col: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda rows: f"'{col}' is not a number: " + rows[col].astype(str).str.slice(0, 60)


def null_tolerance(model: Any, example: pd.DataFrame, features: Features) -> dict[str, bool]:
    """Per feature: whether the model scores a row whose value there is null (a pipeline that imputes does; one
    declared with `impute: none` before an estimator that refuses NaN does not). Found by scoring one row of the
    batch with that value blanked, so it holds whatever the pipeline is."""
    rows = example.head(1000)[features.all].copy()
    for col in features.numeric:
        rows[col] = pd.to_numeric(rows[col], errors="coerce")
    row = rows.dropna().head(1)
    if row.empty:  # no complete row to probe with: the chunks' own scoring says when a null cannot be taken
        return {}
    out: dict[str, bool] = {}
    for col in features.all:
        probe = row.copy()
        probe[col] = np.nan if col in features.numeric else None
        try:
            model.predict(probe)
            out[col] = True
        except (ValueError, TypeError):
            out[col] = False
    return out


def score_chunk(model: Any, chunk: pd.DataFrame, features: Features, task_kind: str) -> pd.DataFrame:
    """The model's outputs for the rows of `chunk`: the prediction and, for a classifier, P(class) (binary:
    `prediction_proba`, P(positive class), as the monitor has it; multiclass: `proba_<class>` per class)."""
    x = chunk[features.all].copy()
    for col in features.numeric:
        if not pd.api.types.is_numeric_dtype(x[col]):
            x[col] = pd.to_numeric(x[col], errors="coerce")
    try:
        out = pd.DataFrame({PREDICTION: model.predict(x)}, index=chunk.index)
        if task_kind == "classification" and hasattr(model, "predict_proba"):
            proba = model.predict_proba(x)
            classes = list(model.classes_)
            if len(classes) == 2:
                out[PROBA] = proba[:, 1]
            else:
                for i, cls in enumerate(classes):
                    out[f"proba_{cls}"] = proba[:, i]
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"the model could not score rows {chunk.index[0]}-{chunk.index[-1]} of the batch ({exc}); check "
            "those rows against the data the model was trained on."
        ) from None
    return out


def chunks(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    if rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {rows}")
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]


def score_batch(
    model: Any,
    batch: pd.DataFrame | BatchSource,
    features: Features,
    task_kind: str,
    ref: ModelRef,
    out: str,
    *,
    metadata: dict[str, str] | None = None,
    chunk_rows: int = 100_000,
    sample_rows: int = 50_000,
    seed: int = 0,
) -> Scored:
    """Score a batch in chunks of `chunk_rows` (see score_chunks): a frame in memory, or the batch a BatchSource
    names, read chunk by chunk (tasks/data/stream.py), so the memory is one chunk's whatever the batch's size."""
    identity = None
    if isinstance(batch, BatchSource):
        parts: Iterable[pd.DataFrame] = batch_chunks(batch, chunk_rows)
        identity = batch.identity
    else:
        if not batch.index.equals(pd.RangeIndex(len(batch))):  # row numbers are positions
            batch = batch.reset_index(drop=True)
        missing_columns(batch, features)
        parts = chunks(batch, chunk_rows)
    return score_chunks(
        model, parts, features, task_kind, ref, out, metadata=metadata, sample_rows=sample_rows, seed=seed,
        identity=identity,
    )  # fmt: skip


def score_chunks(
    model: Any,
    parts: Iterable[pd.DataFrame],
    features: Features,
    task_kind: str,
    ref: ModelRef,
    out: str,
    *,
    metadata: dict[str, str] | None = None,
    sample_rows: int = 50_000,
    seed: int = 0,
    identity: frozenset[str] | None = None,
) -> Scored:
    """Score the chunks `parts` yields (rows numbered from 0 across them) and write the predictions to `out`
    (Parquet: the batch's own columns, the outputs, the model's name, version and run id) and the rows that cannot
    be scored to `rejects_path(out)` with the reason. One chunk is held at a time."""
    target = Path(out)
    reject_file = rejects_path(target)
    # the flow checked them against its inputs too
    check_targets({"--out": target, "the rejects file": reject_file})
    it = iter(parts)
    head = next(it, None)
    if head is None:
        raise DataError("the batch has no rows; check the file or the window.")
    missing_columns(head, features)
    # the rows the monitor's seeded sample of this batch would draw (tasks.drift_summary.sample draws by the rows'
    # values in the batch's identity columns): the smallest draws over every row read so far, the rejected ones
    # included, as the monitor's are
    if sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {sample_rows}")
    wanted = SmallestDraws(sample_rows, seed, SAMPLE_SALT, identity)
    kept: pd.DataFrame | None = None  # the scored rows among them so far: at most sample_rows rows
    takes_nulls = null_tolerance(model, head, features)
    frame = head.head(0)  # the batch's columns, for the empty files
    lineage = ref.columns()
    meta = {f"{META_PREFIX}{k}": v for k, v in lineage.items()} | {
        f"{META_PREFIX}{k}": v for k, v in (metadata or {}).items()
    }
    reasons: dict[str, int] = {}
    scored = rejected = n_chunks = 0
    with atomic_files(target, reject_file) as (tmp_out, tmp_rejects):
        writer: Any = None
        schema: Any = None
        first_reject = True
        try:
            for chunk in itertools.chain([head], it):
                n_chunks += 1
                wanted.add(chunk)
                why = unscorable(chunk, features, takes_nulls)
                bad = why != ""
                if bad.any():
                    lost = chunk.loc[bad].copy()
                    lost.insert(0, REASON, why[bad])
                    lost.insert(0, ROW, lost.index)
                    lost.to_csv(
                        tmp_rejects, mode="w" if first_reject else "a", header=first_reject, index=False
                    )
                    first_reject = False
                    rejected += int(bad.sum())
                    for reason in why[bad]:
                        key = reason.split(":")[0]
                        reasons[key] = reasons.get(key, 0) + 1
                good = chunk.loc[~bad]
                if good.empty:
                    kept = _still_wanted(kept, wanted, None)
                    continue
                result = pd.concat([good, score_chunk(model, good, features, task_kind)], axis=1)
                for k, v in lineage.items():
                    result[k] = v
                if schema is None:
                    schema = arrow_schema(result, meta)
                writer = write_chunk(writer, tmp_out, result, schema)
                scored += len(good)
                kept = _still_wanted(kept, wanted, result)
            if first_reject:  # no rejects: an empty file with the header says so (and replaces an old one)
                pd.DataFrame(columns=[ROW, REASON, *frame.columns]).to_csv(tmp_rejects, index=False)
            if writer is None:  # every row rejected: still a valid (empty) predictions file
                empty = frame.head(0).assign(**{PREDICTION: pd.Series(dtype=object)})
                for k in lineage:
                    empty[k] = pd.Series(dtype=object)
                schema = arrow_schema(empty, meta)
                writer = write_chunk(None, tmp_out, empty, schema)
        finally:
            if writer is not None:
                writer.close()
    columns = [str(n) for n in schema.names] if schema is not None else []
    return Scored(
        rows=scored + rejected, scored=scored, rejected=rejected, out=str(target), rejects=str(reject_file),
        reasons=reasons, chunks=n_chunks,
        sample=kept if kept is not None and len(kept) else frame.head(0), columns=columns,
    )  # fmt: skip


def _still_wanted(
    kept: pd.DataFrame | None, wanted: SmallestDraws, scored: pd.DataFrame | None
) -> pd.DataFrame | None:
    """The scored rows of the sample so far: those kept before and those just `scored`, less the rows a later
    chunk's smaller draws pushed out; in row order (chunks come in order, and each keeps its rows' order)."""
    positions = wanted.positions()
    parts = [p[p.index.isin(positions)] for p in (kept, scored) if p is not None]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts) if len(parts) > 1 else (parts[0] if parts else None)


def arrow_schema(first: pd.DataFrame, metadata: dict[str, str]) -> Any:
    """The file's schema, from the first chunk; a column of only nulls there is typed from the data (as text
    when nothing says otherwise), so a later chunk with values fits it."""
    import pyarrow as pa

    schema = pa.Schema.from_pandas(first, preserve_index=False)
    for i, f in enumerate(schema):
        if pa.types.is_null(f.type):
            schema = schema.set(i, pa.field(f.name, pa.string()))
    merged = dict(schema.metadata or {}) | {k.encode(): v.encode() for k, v in metadata.items()}
    return schema.with_metadata(merged)


def write_chunk(writer: Any, path: Path, chunk: pd.DataFrame, schema: Any) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(path, schema)
    writer.write_table(table)
    return writer


def read_metadata(path: str | Path) -> dict[str, str]:
    """The mlops lineage a predictions file carries in its Parquet schema metadata."""
    import pyarrow.parquet as pq

    raw = pq.read_schema(path).metadata or {}
    return {
        k.decode()[len(META_PREFIX) :]: v.decode()
        for k, v in raw.items()
        if k.decode().startswith(META_PREFIX)
    }


@dataclass(frozen=True)
class PredictResult:
    """What a predict run did, for the CLI and the flow's return value."""

    pipeline: str
    model_name: str
    model_version: str
    model_run_id: str
    selected_by: str  # "alias champion", "alias challenger", "version 3"
    batch: str
    rows: int
    scored: int
    rejected: int
    reasons: dict[str, int]
    out: str
    rejects: str
    quality: str
    run_url: str
    run_id: str
    chunks: int
    empty_features: tuple[str, ...] = ()  # all null, scored as --allow-empty-feature asked
    kept_by_id: str = ""  # where the predictions were kept by id (data.id_column), for labels arriving later


def missing_columns(frame: pd.DataFrame, features: Features) -> None:
    """DataError when the batch lacks a column the model reads: no row of it could be scored."""
    missing = [c for c in features.all if c not in frame.columns]
    if missing:
        raise DataError(
            f"the batch lacks the model's columns: {', '.join(missing)}; give a batch with every column the "
            "model was trained on."
        )


def reuse_logged(current: pd.DataFrame, logged: pd.DataFrame) -> pd.DataFrame | None:
    """`current` (the monitor's sample of a batch) with the predictions a predict run logged for the same rows
    (`prediction`, and `prediction_proba` for a binary classifier, as tasks.train.predict gives them); None when the
    logged sample lacks one of the rows (the predict run rejected it), so the caller predicts instead."""
    if PREDICTION not in logged.columns or not current.index.isin(logged.index).all():
        return None
    out = current.copy()
    for col in (PREDICTION, PROBA):
        if col in logged.columns:
            out[col] = logged.loc[current.index, col].to_numpy()
    return out


def predictions_note(reused_run: str | None, version: str) -> str:
    """What the monitor scored its sample with, for its output: a predict run's logged predictions, or its own."""
    if reused_run:
        return (
            f"Predictions: reused the sample logged by predict run {reused_run} (the same batch, scored by "
            f"champion v{version}); not predicted again."
        )
    return (
        f"Predictions: made here by champion v{version} (no predict run of this batch by this version logged "
        "the sample)."
    )
